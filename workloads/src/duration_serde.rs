//! Durations on the wire as human-readable strings (`"1s 500ms"`), so a
//! schedule in `run.toml` can be read and edited by hand, and round-trips
//! exactly (humantime keeps nanoseconds).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Serialize a [`Duration`] as a humantime string.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*duration).to_string())
}

/// Parse a humantime string (`"250ms"`, `"1s 500ms"`) into a [`Duration`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// The same for `Option<Duration>` (absent or null means `None`).
pub mod option {
    use super::*;

    /// Serialize `Some` as a humantime string, `None` as null.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => super::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Parse an optional humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The same for a `(min, max)` pair of durations.
pub mod pair {
    use super::*;
    use serde::Serialize;

    /// Serialize as a two-element array of humantime strings.
    pub fn serialize<S: Serializer>(
        pair: &(Duration, Duration),
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        [
            humantime::format_duration(pair.0).to_string(),
            humantime::format_duration(pair.1).to_string(),
        ]
        .serialize(serializer)
    }

    /// Parse a two-element array of humantime strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<(Duration, Duration), D::Error> {
        let [low, high] = <[String; 2]>::deserialize(deserializer)?;
        let parse = |text: &str| humantime::parse_duration(text).map_err(serde::de::Error::custom);
        Ok((parse(&low)?, parse(&high)?))
    }
}
