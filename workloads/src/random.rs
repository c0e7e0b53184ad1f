//! Portable random choices. `usize` ranges sample differently on 32- and
//! 64-bit platforms in rand 0.8, so every index is drawn as a `u32`: a seed
//! means the same schedule on every machine.

use rand::Rng;

/// A uniform index in `0..len` (`len` must be non-zero).
pub(crate) fn index<R: Rng + ?Sized>(rng: &mut R, len: usize) -> usize {
    debug_assert!(len > 0);
    rng.gen_range(0..len as u32) as usize
}

/// Fisher–Yates shuffle in place, drawn with [`index`].
pub(crate) fn shuffle<T, R: Rng + ?Sized>(rng: &mut R, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = index(rng, i + 1);
        items.swap(i, j);
    }
}

/// A uniform element of a non-empty slice.
pub(crate) fn choose<'a, T, R: Rng + ?Sized>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[index(rng, items.len())]
}

/// A uniform float in `low..high`.
pub(crate) fn between<R: Rng + ?Sized>(rng: &mut R, low: f64, high: f64) -> f64 {
    if high > low {
        rng.gen_range(low..high)
    } else {
        low
    }
}
