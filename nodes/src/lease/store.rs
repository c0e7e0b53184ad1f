//! The lease in Redis: the scripts that acquire and renew it atomically, and
//! the translation of Redis replies into the state machine's [`Reply`].
//!
//! Two keys: `KEY` holds the holder's id with a TTL; `KEY:token` is the
//! fencing-token counter, incremented only by a successful acquisition.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::core::{RenewMode, Reply, Request};
use super::resp::{Connection, RespError, Value};

/// Acquire if free, in one atomic step with taking the next token; else say
/// who holds it and the current token. `{1, token}` or `{0, token, holder}`.
pub const ACQUIRE_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('INCR', KEYS[2])}
end
return {0, tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('GET', KEYS[1])}
";

/// Renew only if the key still names this node *and* the token is still the
/// one it acquired with (nobody acquired since). `{1, token}` or
/// `{0, token, holder}` (holder absent when the key is gone).
pub const RENEW_CAS_SCRIPT: &str = r"
local token = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('GET', KEYS[1]) == ARGV[1] and token == tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, token}
end
return {0, token, redis.call('GET', KEYS[1])}
";

/// Where the lease lives and who this node is.
#[derive(Debug)]
pub struct LeaseStore {
    addr: SocketAddr,
    key: String,
    token_key: String,
    id: String,
    ttl_ms: String,
    connection: Option<Connection>,
    /// The last failure, for one stderr line per change of reason.
    pub last_error: Option<String>,
}

impl LeaseStore {
    /// A store for lease `key` on the Redis at `addr` (connected lazily).
    pub fn new(addr: SocketAddr, key: &str, id: &str, ttl: Duration) -> Self {
        LeaseStore {
            addr,
            key: key.to_owned(),
            token_key: format!("{key}:token"),
            id: id.to_owned(),
            ttl_ms: ttl.as_millis().max(1).to_string(),
            connection: None,
            last_error: None,
        }
    }

    /// Carries out `request`, giving up at `deadline`. Any failure drops the
    /// connection (a late reply must never answer a later request).
    pub fn perform(&mut self, request: &Request, deadline: Instant) -> Reply {
        match self.try_perform(request, deadline) {
            Ok(reply) => {
                self.last_error = None;
                reply
            }
            Err(error) => {
                self.connection = None;
                self.last_error = Some(error.to_string());
                Reply::Unavailable
            }
        }
    }

    fn try_perform(&mut self, request: &Request, deadline: Instant) -> Result<Reply, RespError> {
        if self.connection.is_none() {
            self.connection = Some(Connection::connect(self.addr, deadline)?);
        }
        let connection = self.connection.as_mut().expect("connected above");
        let (key, token_key, id, ttl) = (
            self.key.as_bytes(),
            self.token_key.as_bytes(),
            self.id.as_bytes(),
            self.ttl_ms.as_bytes(),
        );
        match request {
            Request::Acquire => {
                let args: [&[u8]; 7] = [
                    b"EVAL",
                    ACQUIRE_SCRIPT.as_bytes(),
                    b"2",
                    key,
                    token_key,
                    id,
                    ttl,
                ];
                let value = connection.request(&args, deadline)?;
                let (flag, token, holder) = script_triple(&value)?;
                Ok(if flag == 1 {
                    Reply::Acquired { token }
                } else {
                    Reply::Held { holder, token }
                })
            }
            Request::Renew {
                token,
                mode: RenewMode::Cas,
            } => {
                let mine = token.to_string();
                let args: [&[u8]; 8] = [
                    b"EVAL",
                    RENEW_CAS_SCRIPT.as_bytes(),
                    b"2",
                    key,
                    token_key,
                    id,
                    ttl,
                    mine.as_bytes(),
                ];
                let value = connection.request(&args, deadline)?;
                let (flag, token, holder) = script_triple(&value)?;
                Ok(if flag == 1 {
                    Reply::Renewed
                } else {
                    Reply::RenewRefused {
                        holder,
                        token: Some(token),
                    }
                })
            }
            Request::Renew {
                mode: RenewMode::Xx,
                ..
            } => {
                // The seeds' recipe: overwrite the key if it exists, whoever holds it.
                let args: [&[u8]; 6] = [b"SET", key, id, b"XX", b"PX", ttl];
                match connection.request(&args, deadline)? {
                    Value::Simple(ok) if ok == "OK" => Ok(Reply::Renewed),
                    Value::Bulk(None) => Ok(Reply::RenewRefused {
                        holder: None,
                        token: None,
                    }),
                    other => Err(unexpected(&other)),
                }
            }
        }
    }
}

/// `{flag, token[, holder]}` from one of the scripts.
fn script_triple(value: &Value) -> Result<(i64, u64, Option<String>), RespError> {
    let Value::Array(Some(items)) = value else {
        return Err(unexpected(value));
    };
    let flag = match items.first() {
        Some(Value::Int(flag)) => *flag,
        _ => return Err(unexpected(value)),
    };
    let token = match items.get(1) {
        Some(Value::Int(token)) if *token >= 0 => *token as u64,
        _ => return Err(unexpected(value)),
    };
    let holder = match items.get(2) {
        Some(Value::Bulk(Some(bytes))) => Some(String::from_utf8_lossy(bytes).into_owned()),
        None | Some(Value::Bulk(None)) => None,
        Some(_) => return Err(unexpected(value)),
    };
    Ok((flag, token, holder))
}

fn unexpected(value: &Value) -> RespError {
    RespError::Protocol(format!("unexpected reply {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_replies_decode() {
        let acquired = Value::Array(Some(vec![Value::Int(1), Value::Int(9)]));
        assert_eq!(script_triple(&acquired).unwrap(), (1, 9, None));
        let held = Value::Array(Some(vec![
            Value::Int(0),
            Value::Int(9),
            Value::Bulk(Some(b"n3".to_vec())),
        ]));
        assert_eq!(script_triple(&held).unwrap(), (0, 9, Some("n3".into())));
        assert!(script_triple(&Value::Error("ERR".into())).is_err());
        assert!(script_triple(&Value::Array(Some(vec![Value::Int(0)]))).is_err());
    }
}
