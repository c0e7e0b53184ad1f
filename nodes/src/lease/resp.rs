//! A minimal blocking RESP2 client: commands as arrays of bulk strings,
//! replies parsed into [`Value`]. Hand-written (about 150 lines) instead of
//! the `redis` crate because a node under fault injection needs exact
//! control of every deadline and must throw a connection away after any
//! timeout (a late reply on a reused connection would answer the wrong
//! request), and because it keeps the node free of extra dependencies.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use thiserror::Error;

/// Nesting and size limits, so a corrupt stream cannot exhaust memory.
const MAX_BULK_BYTES: i64 = 1 << 20;
const MAX_ARRAY_ITEMS: i64 = 1 << 16;
const MAX_DEPTH: usize = 8;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$3\r\nabc`, or `$-1` (nil).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`, or `*-1` (nil).
    Array(Option<Vec<Value>>),
}

/// Why a request got no usable reply; the connection must be dropped.
#[derive(Debug, Error)]
pub enum RespError {
    /// Connecting, writing or reading failed, or the deadline passed.
    #[error("redis i/o: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not RESP2.
    #[error("redis protocol: {0}")]
    Protocol(String),
}

/// One connection to a Redis server.
#[derive(Debug)]
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `addr`, giving up at `deadline`.
    pub fn connect(addr: SocketAddr, deadline: Instant) -> Result<Connection, RespError> {
        let stream = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply, giving up at `deadline`.
    pub fn request(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Value, RespError> {
        let stream = self.reader.get_mut();
        stream.set_write_timeout(Some(remaining(deadline)?))?;
        stream.write_all(&encode_command(args))?;
        read_value(&mut self.reader, deadline, 0)
    }
}

/// Time left until `deadline`, or a timeout error when none is.
fn remaining(deadline: Instant) -> Result<Duration, RespError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(RespError::Io(io::ErrorKind::TimedOut.into()))
    } else {
        Ok(left)
    }
}

/// A command as RESP: an array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Something to read replies from with a deadline (a socket, or bytes in tests).
pub trait DeadlineRead: BufRead {
    /// Makes the next reads give up at `deadline`.
    fn set_deadline(&mut self, deadline: Instant) -> Result<(), RespError>;
}

impl DeadlineRead for BufReader<TcpStream> {
    fn set_deadline(&mut self, deadline: Instant) -> Result<(), RespError> {
        self.get_ref()
            .set_read_timeout(Some(remaining(deadline)?))?;
        Ok(())
    }
}

impl DeadlineRead for &[u8] {
    fn set_deadline(&mut self, _deadline: Instant) -> Result<(), RespError> {
        Ok(())
    }
}

/// Reads one line without its CRLF.
fn read_line(reader: &mut impl DeadlineRead, deadline: Instant) -> Result<Vec<u8>, RespError> {
    let mut line = Vec::new();
    loop {
        reader.set_deadline(deadline)?;
        let before = line.len();
        reader.read_until(b'\n', &mut line)?;
        if line.len() == before {
            return Err(RespError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
            return Ok(line);
        }
        if line.len() > MAX_BULK_BYTES as usize {
            return Err(RespError::Protocol("line too long".into()));
        }
    }
}

fn parse_int(bytes: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            RespError::Protocol(format!("bad integer {:?}", String::from_utf8_lossy(bytes)))
        })
}

/// Reads one complete reply.
pub fn read_value(
    reader: &mut impl DeadlineRead,
    deadline: Instant,
    depth: usize,
) -> Result<Value, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError::Protocol("nested too deep".into()));
    }
    let line = read_line(reader, deadline)?;
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| RespError::Protocol("empty line".into()))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Value::Simple(text())),
        b'-' => Ok(Value::Error(text())),
        b':' => Ok(Value::Int(parse_int(rest)?)),
        b'$' => {
            let length = parse_int(rest)?;
            if length < 0 {
                return Ok(Value::Bulk(None));
            }
            if length > MAX_BULK_BYTES {
                return Err(RespError::Protocol("bulk string too long".into()));
            }
            let mut body = vec![0u8; length as usize + 2];
            let mut filled = 0;
            while filled < body.len() {
                reader.set_deadline(deadline)?;
                let read = io::Read::read(reader, &mut body[filled..])?;
                if read == 0 {
                    return Err(RespError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                filled += read;
            }
            if !body.ends_with(b"\r\n") {
                return Err(RespError::Protocol("bulk string without CRLF".into()));
            }
            body.truncate(length as usize);
            Ok(Value::Bulk(Some(body)))
        }
        b'*' => {
            let count = parse_int(rest)?;
            if count < 0 {
                return Ok(Value::Array(None));
            }
            if count > MAX_ARRAY_ITEMS {
                return Err(RespError::Protocol("array too long".into()));
            }
            let items = (0..count)
                .map(|_| read_value(reader, deadline, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Array(Some(items)))
        }
        other => Err(RespError::Protocol(format!(
            "unknown reply type {:?}",
            char::from(*other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Value, RespError> {
        let mut reader = bytes;
        read_value(&mut reader, Instant::now() + Duration::from_secs(1), 0)
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode_command(&[b"SET", b"k", b""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn every_reply_type_parses() {
        assert_eq!(parse(b"+OK\r\n").unwrap(), Value::Simple("OK".into()));
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap(),
            Value::Error("ERR no".into())
        );
        assert_eq!(parse(b":-7\r\n").unwrap(), Value::Int(-7));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Value::Bulk(None));
        assert_eq!(
            parse(b"$4\r\na\r\nb\r\n").unwrap(),
            Value::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(
            parse(b"*3\r\n:0\r\n:5\r\n$2\r\nn2\r\n").unwrap(),
            Value::Array(Some(vec![
                Value::Int(0),
                Value::Int(5),
                Value::Bulk(Some(b"n2".to_vec()))
            ]))
        );
        assert_eq!(parse(b"*-1\r\n").unwrap(), Value::Array(None));
    }

    #[test]
    fn damaged_replies_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"+OK",
            b"?x\r\n",
            b":x\r\n",
            b"$5\r\nab\r\n",
            b"$2\r\nabcd",
            b"*2\r\n:1\r\n",
            b"$99999999999\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
