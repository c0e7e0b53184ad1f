//! nftables through libnftables, loaded at run time: one context kept for
//! the whole run, so a rule change is one netlink transaction (tens of
//! microseconds) rather than a fork and exec of `nft` (milliseconds), and a
//! machine without nftables still runs everything that does not need it.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

use crate::KernelError;

type NewFn = unsafe extern "C" fn(u32) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type BufferFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type GetBufferFn = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

struct Api {
    free: FreeFn,
    get_output: GetBufferFn,
    get_error: GetBufferFn,
    run: RunFn,
}

struct Ctx {
    api: Api,
    ctx: *mut c_void,
}

// SAFETY: the context is only used under the mutex, from one thread at a time.
unsafe impl Send for Ctx {}

/// A libnftables context. Every [`Nft::run`] is one atomic transaction: a
/// partition is never half in force.
pub struct Nft {
    inner: Mutex<Ctx>,
}

impl std::fmt::Debug for Nft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nft")
    }
}

const LIBRARY_NAMES: [&str; 2] = ["libnftables.so.1", "libnftables.so"];

fn missing() -> KernelError {
    KernelError::NoNftables(
        "libnftables is not installed: apt-get install nftables (or use --network proxy)".into(),
    )
}

unsafe fn symbol<T: Copy>(lib: *mut c_void, name: &str) -> Result<T, KernelError> {
    let cname = CString::new(name).expect("symbol names have no NUL");
    let p = libc::dlsym(lib, cname.as_ptr());
    if p.is_null() {
        return Err(KernelError::NoNftables(format!(
            "libnftables lacks {name}: install nftables 0.9 or later (apt-get install nftables)"
        )));
    }
    Ok(std::mem::transmute_copy::<*mut c_void, T>(&p))
}

impl Nft {
    /// Load libnftables and make a context whose output and errors are
    /// buffered (read back after each command).
    pub fn open() -> Result<Nft, KernelError> {
        // SAFETY: dlopen/dlsym with valid C strings; the library stays loaded
        // for the life of the process (never dlclosed), so the function
        // pointers stay valid.
        unsafe {
            let lib = LIBRARY_NAMES.iter().find_map(|name| {
                let cname = CString::new(*name).expect("no NUL");
                let h = libc::dlopen(cname.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                (!h.is_null()).then_some(h)
            });
            let lib = lib.ok_or_else(missing)?;
            let new: NewFn = symbol(lib, "nft_ctx_new")?;
            let buffer_output: BufferFn = symbol(lib, "nft_ctx_buffer_output")?;
            let buffer_error: BufferFn = symbol(lib, "nft_ctx_buffer_error")?;
            let api = Api {
                free: symbol(lib, "nft_ctx_free")?,
                get_output: symbol(lib, "nft_ctx_get_output_buffer")?,
                get_error: symbol(lib, "nft_ctx_get_error_buffer")?,
                run: symbol(lib, "nft_run_cmd_from_buffer")?,
            };
            let ctx = new(0);
            if ctx.is_null() {
                return Err(KernelError::NoNftables(
                    "libnftables could not make a context (out of memory?)".into(),
                ));
            }
            buffer_output(ctx);
            buffer_error(ctx);
            Ok(Nft {
                inner: Mutex::new(Ctx { api, ctx }),
            })
        }
    }

    /// Run commands (nft syntax, several lines allowed) as one transaction;
    /// returns what nft printed (listings).
    pub fn run(&self, commands: &str) -> Result<String, KernelError> {
        let c = CString::new(commands).map_err(|_| KernelError::Nft {
            message: "command contains a NUL byte".into(),
            command: shorten(commands),
        })?;
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: ctx is a live context; buffers are NUL-terminated strings
        // owned by the context, copied before the next call.
        unsafe {
            let rc = (guard.api.run)(guard.ctx, c.as_ptr());
            let out = read((guard.api.get_output)(guard.ctx));
            let err = read((guard.api.get_error)(guard.ctx));
            if rc != 0 {
                return Err(KernelError::Nft {
                    message: err.trim().to_string(),
                    command: shorten(commands),
                });
            }
            Ok(out)
        }
    }

    /// Names of the tables of `family` whose names start with `prefix`.
    pub fn tables(&self, family: &str, prefix: &str) -> Result<Vec<String>, KernelError> {
        let out = self.run(&format!("list tables {family}"))?;
        Ok(out
            .lines()
            .filter_map(|l| l.trim().strip_prefix(&format!("table {family} ")))
            .map(|name| name.trim().to_string())
            .filter(|name| name.starts_with(prefix))
            .collect())
    }
}

unsafe fn read(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn shorten(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 200 {
        format!("{}…", one.chars().take(200).collect::<String>())
    } else {
        one
    }
}

impl Drop for Nft {
    fn drop(&mut self) {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the context is freed once, here.
        unsafe { (guard.api.free)(guard.ctx) };
    }
}
