//! D-Bus messages on the wire (the D-Bus specification's marshalling), for the few types
//! systemd's manager calls take and return: little-endian only (rrun is x86_64-only), no
//! file descriptors. Pure functions over byte vectors, unit-tested without a bus.

use super::super::properties::Value;
use anyhow::{Result, bail};

pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
pub const SIGNAL: u8 = 4;
/// Header flag: the sender wants no reply (AddMatch, fire and forget).
pub const NO_REPLY_EXPECTED: u8 = 1;

/// A body argument.
pub enum Arg<'a> {
    Str(&'a str),
    Bool(bool),
    /// a(sv): unit properties.
    Properties(&'a [(String, Value)]),
    /// a(sa(sv)): StartTransientUnit's auxiliary units (always empty here).
    NoAuxUnits,
}

impl Arg<'_> {
    fn signature(&self) -> &'static str {
        match self {
            Arg::Str(_) => "s",
            Arg::Bool(_) => "b",
            Arg::Properties(_) => "a(sv)",
            Arg::NoAuxUnits => "a(sa(sv))",
        }
    }
}

/// Bytes being marshalled; offsets are from the message's start (the body starts 8-aligned,
/// so offsets in it align the same).
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }
    fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }
    fn u16(&mut self, v: u16) {
        self.align(2);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    /// An array: its byte length, padding to the elements' alignment, then `elements`.
    fn array(&mut self, element_align: usize, elements: impl FnOnce(&mut Writer)) {
        self.align(4);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.align(element_align);
        let start = self.buf.len();
        elements(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    fn variant(&mut self, v: &Value) {
        self.signature(value_signature(v));
        self.value(v);
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::Byte(n) => self.byte(*n),
            Value::I16(n) => self.u16(*n as u16),
            Value::U16(n) => self.u16(*n),
            Value::I32(n) => self.u32(*n as u32),
            Value::U32(n) => self.u32(*n),
            Value::I64(n) => self.u64(*n as u64),
            Value::U64(n) => self.u64(*n),
            Value::Double(n) => self.u64(n.to_bits()),
            Value::Str(s) => self.string(s),
            Value::Strings(list) => self.array(4, |w| list.iter().for_each(|s| w.string(s))),
            Value::U32s(list) => self.array(4, |w| list.iter().for_each(|n| w.u32(*n))),
            Value::Bytes(list) => self.array(1, |w| w.buf.extend_from_slice(list)),
            Value::DeviceAllow(list) => self.array(8, |w| {
                for (path, perms) in list {
                    w.align(8);
                    w.string(path);
                    w.string(perms);
                }
            }),
        }
    }
    fn arg(&mut self, a: &Arg) {
        match a {
            Arg::Str(s) => self.string(s),
            Arg::Bool(b) => self.u32(u32::from(*b)),
            Arg::Properties(props) => self.array(8, |w| {
                for (name, value) in props.iter() {
                    w.align(8);
                    w.string(name);
                    w.variant(value);
                }
            }),
            Arg::NoAuxUnits => self.array(8, |_| {}),
        }
    }
}

pub fn value_signature(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "b",
        Value::Byte(_) => "y",
        Value::I16(_) => "n",
        Value::U16(_) => "q",
        Value::I32(_) => "i",
        Value::U32(_) => "u",
        Value::I64(_) => "x",
        Value::U64(_) => "t",
        Value::Double(_) => "d",
        Value::Str(_) => "s",
        Value::Strings(_) => "as",
        Value::U32s(_) => "au",
        Value::Bytes(_) => "ay",
        Value::DeviceAllow(_) => "a(ss)",
    }
}

/// Where a method call goes.
pub struct Call<'a> {
    pub destination: &'a str,
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
}

/// A whole method call message.
pub fn method_call(serial: u32, flags: u8, call: &Call, args: &[Arg]) -> Vec<u8> {
    let mut body = Writer::default();
    for a in args {
        body.arg(a);
    }
    let signature: String = args.iter().map(Arg::signature).collect();
    let mut w = Writer::default();
    w.byte(b'l');
    w.byte(METHOD_CALL);
    w.byte(flags);
    w.byte(1);
    w.u32(body.buf.len() as u32);
    w.u32(serial);
    w.array(8, |w| {
        let field = |w: &mut Writer, code: u8, sig: &str, value: &str| {
            w.align(8);
            w.byte(code);
            w.signature(sig);
            if sig == "g" {
                w.signature(value);
            } else {
                w.string(value);
            }
        };
        field(w, 1, "o", call.path);
        field(w, 2, "s", call.interface);
        field(w, 3, "s", call.member);
        field(w, 6, "s", call.destination);
        if !signature.is_empty() {
            field(w, 8, "g", &signature);
        }
    });
    w.align(8);
    w.buf.extend_from_slice(&body.buf);
    w.buf
}

/// A received message: what the driver reads of it.
#[derive(Debug, Default, PartialEq)]
pub struct Message {
    pub kind: u8,
    pub serial: u32,
    pub reply_serial: Option<u32>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub signature: String,
    pub body: Vec<u8>,
}

/// The total length of the message whose first 16 bytes are `head`.
pub fn message_len(head: &[u8; 16]) -> Result<usize> {
    if head[0] != b'l' {
        bail!("D-Bus: only little-endian messages are supported");
    }
    let body = u32::from_le_bytes(head[4..8].try_into().unwrap()) as usize;
    let fields = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
    let header = (16 + fields).div_ceil(8) * 8;
    if body > 128 << 20 || fields > 128 << 20 {
        bail!("D-Bus: message too large");
    }
    Ok(header + body)
}

/// Reads marshalled values; offsets are from the start of the buffer (message or body,
/// both 8-aligned).
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.pos + n > self.buf.len() {
            bail!("D-Bus: truncated message");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32> {
        self.align(4);
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    /// A string or an object path.
    pub fn string(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        let s = self.take(len + 1)?;
        Ok(String::from_utf8_lossy(&s[..len]).into_owned())
    }
    pub fn signature(&mut self) -> Result<String> {
        let len = self.byte()? as usize;
        let s = self.take(len + 1)?;
        Ok(String::from_utf8_lossy(&s[..len]).into_owned())
    }
    /// A variant holding a string (the only kind rrun reads: systemd's Version).
    pub fn variant_string(&mut self) -> Result<String> {
        match self.signature()?.as_str() {
            "s" | "o" => self.string(),
            other => bail!("D-Bus: expected a string variant, got {other:?}"),
        }
    }
    /// Skips a header field value of signature `sig` (the basic types headers use).
    fn skip(&mut self, sig: &str) -> Result<()> {
        match sig {
            "s" | "o" => self.string().map(drop),
            "g" => self.signature().map(drop),
            "u" | "i" | "b" => self.u32().map(drop),
            "y" => self.byte().map(drop),
            other => bail!("D-Bus: unexpected header field type {other:?}"),
        }
    }
}

/// Parses one whole message (as long as [`message_len`] said).
pub fn parse(buf: &[u8]) -> Result<Message> {
    let mut r = Reader::new(buf);
    let _endian = r.byte()?;
    let kind = r.byte()?;
    let _flags = r.byte()?;
    let _version = r.byte()?;
    let body_len = r.u32()? as usize;
    let serial = r.u32()?;
    let fields_len = r.u32()? as usize;
    let end = r.pos + fields_len;
    let mut m = Message {
        kind,
        serial,
        ..Message::default()
    };
    while r.pos < end {
        r.align(8);
        let code = r.byte()?;
        let sig = r.signature()?;
        match (code, sig.as_str()) {
            (3, "s") => m.member = Some(r.string()?),
            (4, "s") => m.error_name = Some(r.string()?),
            (5, "u") => m.reply_serial = Some(r.u32()?),
            (8, "g") => m.signature = r.signature()?,
            (_, sig) => r.skip(sig)?,
        }
    }
    r.pos = end;
    r.align(8);
    m.body = r.take(body_len)?.to_vec();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEMD: Call = Call {
        destination: "org.freedesktop.systemd1",
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member: "StartTransientUnit",
    };

    #[test]
    fn a_call_parses_back_with_its_fields_and_body() {
        let props = vec![
            ("Delegate".to_string(), Value::Bool(true)),
            ("PIDs".to_string(), Value::U32s(vec![42])),
            ("MemoryMax".to_string(), Value::U64(1 << 26)),
        ];
        let msg = method_call(
            7,
            0,
            &SYSTEMD,
            &[
                Arg::Str("x.scope"),
                Arg::Str("replace"),
                Arg::Properties(&props),
                Arg::NoAuxUnits,
            ],
        );
        let head: [u8; 16] = msg[..16].try_into().unwrap();
        assert_eq!(message_len(&head).unwrap(), msg.len());
        let m = parse(&msg).unwrap();
        assert_eq!((m.kind, m.serial), (METHOD_CALL, 7));
        assert_eq!(m.member.as_deref(), Some("StartTransientUnit"));
        assert_eq!(m.signature, "ssa(sv)a(sa(sv))");
        let mut r = Reader::new(&m.body);
        assert_eq!(r.string().unwrap(), "x.scope");
        assert_eq!(r.string().unwrap(), "replace");
        // a(sv): length, pad to 8, then ("Delegate", variant b true)...
        let len = r.u32().unwrap() as usize;
        r.align(8);
        let start = r.pos;
        assert_eq!(r.string().unwrap(), "Delegate");
        assert_eq!(r.signature().unwrap(), "b");
        assert_eq!(r.u32().unwrap(), 1);
        r.align(8);
        assert_eq!(r.string().unwrap(), "PIDs");
        assert_eq!(r.signature().unwrap(), "au");
        assert_eq!(r.u32().unwrap(), 4);
        assert_eq!(r.u32().unwrap(), 42);
        r.align(8);
        assert_eq!(r.string().unwrap(), "MemoryMax");
        assert_eq!(r.signature().unwrap(), "t");
        r.align(8);
        assert_eq!(
            u64::from_le_bytes(r.take(8).unwrap().try_into().unwrap()),
            1 << 26
        );
        assert_eq!(r.pos - start, len);
        // The empty a(sa(sv)): a zero length, then padding to 8.
        assert_eq!(r.u32().unwrap(), 0);
    }

    #[test]
    fn the_d_bus_specs_example_of_an_empty_struct_array_aligns() {
        // An array of 8-aligned elements pads after its length even when empty.
        let mut w = Writer::default();
        w.byte(1);
        w.array(8, |_| {});
        assert_eq!(w.buf, vec![1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn truncated_or_foreign_messages_are_errors() {
        let msg = method_call(1, 0, &SYSTEMD, &[Arg::Str("a")]);
        assert!(parse(&msg[..msg.len() - 1]).is_err());
        let mut big = [0u8; 16];
        big[0] = b'B';
        assert!(message_len(&big).is_err());
    }
}
