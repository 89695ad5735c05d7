//! rtnetlink messages as bytes: the requests `net_devices` sends (move a link into another
//! network namespace, list and add addresses) and the replies it reads. No socket here:
//! building and reading are plain functions over byte slices, unit-tested without root.
//!
//! Numbers are the kernel's ABI (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
//! linux/if_addr.h); every integer is in the host's byte order, as netlink's are.

use std::fmt;

const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_GETADDR: u16 = 22;

const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One request: the netlink header, the message's fixed part, its attributes.
struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Self {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        // Sequence 1, port 0 (the kernel's): one request in flight per socket.
        buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
        buf.extend_from_slice(fixed);
        buf.resize(align4(buf.len()), 0);
        Request { buf }
    }

    fn attr(mut self, kind: u16, value: &[u8]) -> Self {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// struct ifinfomsg: family, pad, type, index, flags, change.
fn ifinfomsg(index: i32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0] = AF_UNSPEC;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

/// struct ifaddrmsg: family, prefix length, flags, scope, index.
fn ifaddrmsg(family: u8, prefix_len: u8, index: u32) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[0] = family;
    m[1] = prefix_len;
    m[3] = RT_SCOPE_UNIVERSE;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

fn name_bytes(name: &str) -> Vec<u8> {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    b
}

/// RTM_NEWLINK for link `index`: into the network namespace `netns_fd` (an fd of the
/// sending process), named `name` there. One request moves and renames together, so the
/// name can't clash on either side in between (as runc does it).
pub fn move_link(index: i32, name: &str, netns_fd: i32) -> Vec<u8> {
    Request::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index))
        .attr(IFLA_IFNAME, &name_bytes(name))
        .attr(IFLA_NET_NS_FD, &(netns_fd as u32).to_ne_bytes())
        .finish()
}

/// RTM_GETADDR, every address of every link, both families.
pub fn dump_addresses() -> Vec<u8> {
    Request::new(RTM_GETADDR, NLM_F_DUMP, &ifaddrmsg(AF_UNSPEC, 0, 0)).finish()
}

/// An interface address as the kernel lists it: family, the address's bytes (4 or 16),
/// prefix length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub family: u8,
    pub bytes: Vec<u8>,
    pub prefix_len: u8,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (self.family, self.bytes.as_slice()) {
            (AF_INET, &[a, b, c, d]) => write!(f, "{}", std::net::Ipv4Addr::new(a, b, c, d))?,
            (AF_INET6, bytes) if bytes.len() == 16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                write!(f, "{}", std::net::Ipv6Addr::from(octets))?
            }
            _ => write!(f, "{:?}", self.bytes)?,
        }
        write!(f, "/{}", self.prefix_len)
    }
}

/// RTM_NEWADDR: `address` on link `index`. An IPv4 address of a subnet wide enough to have
/// one gets its broadcast address, as `ip address add ... brd +` and runc's netlink
/// library give it.
pub fn add_address(index: i32, address: &Address) -> Vec<u8> {
    let fixed = ifaddrmsg(address.family, address.prefix_len, index as u32);
    let mut req = Request::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &fixed)
        .attr(IFA_LOCAL, &address.bytes)
        .attr(IFA_ADDRESS, &address.bytes);
    if let (AF_INET, &[a, b, c, d]) = (address.family, address.bytes.as_slice())
        && address.prefix_len < 31
    {
        let host_bits = u32::MAX >> address.prefix_len;
        let broadcast = u32::from_be_bytes([a, b, c, d]) | host_bits;
        req = req.attr(IFA_BROADCAST, &broadcast.to_be_bytes());
    }
    req.finish()
}

/// One message of a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A message of the dump: its type and what follows its header.
    Message { kind: u16, payload: &'a [u8] },
    /// An acknowledgement (errno 0) or an error (a positive errno).
    Ack { errno: i32 },
    /// The end of a dump.
    Done,
}

/// The messages in one datagram the kernel sent; an error names what was malformed.
pub fn replies(mut buf: &[u8]) -> Result<Vec<Reply<'_>>, String> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes(buf[4..6].try_into().unwrap());
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(format!(
                "netlink message of length {len} in {} bytes",
                buf.len()
            ));
        }
        let payload = &buf[NLMSG_HDRLEN..len];
        out.push(match kind {
            NLMSG_ERROR => {
                let Some(code) = payload.get(0..4) else {
                    return Err("netlink error message without its code".into());
                };
                Reply::Ack {
                    errno: -i32::from_ne_bytes(code.try_into().unwrap()),
                }
            }
            NLMSG_DONE => Reply::Done,
            _ => Reply::Message { kind, payload },
        });
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

/// From an RTM_NEWADDR message of a dump: the address, if it is on link `index`,
/// permanent (configured, not learnt: runc moves only those) and of global scope.
pub fn permanent_global_address(payload: &[u8], index: i32) -> Option<Address> {
    let fixed = payload.get(0..8)?;
    let (family, prefix_len, scope) = (fixed[0], fixed[1], fixed[3]);
    if u32::from_ne_bytes(fixed[4..8].try_into().unwrap()) != index as u32 {
        return None;
    }
    let mut flags = u32::from(fixed[2]);
    let (mut local, mut address) = (None, None);
    let mut attrs = &payload[8..];
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes(attrs[0..2].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes(attrs[2..4].try_into().unwrap());
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = &attrs[4..len];
        match kind {
            IFA_LOCAL => local = Some(value),
            IFA_ADDRESS => address = Some(value),
            // The 32-bit flags, where the kernel has more than the 8 of the header.
            IFA_FLAGS if value.len() == 4 => flags = u32::from_ne_bytes(value.try_into().unwrap()),
            _ => {}
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    if flags & IFA_F_PERMANENT == 0 || scope != RT_SCOPE_UNIVERSE {
        return None;
    }
    // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on a
    // point-to-point link); IPv6 lists only IFA_ADDRESS.
    let bytes = local.or(address)?.to_vec();
    Some(Address {
        family,
        bytes,
        prefix_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(align4(a.len()), 0);
        a
    }

    #[test]
    fn a_move_request_names_the_link_its_new_name_and_the_namespace() {
        let msg = move_link(7, "ctr0", 12);
        assert_eq!(
            u32::from_ne_bytes(msg[0..4].try_into().unwrap()) as usize,
            msg.len()
        );
        assert_eq!(
            u16::from_ne_bytes(msg[4..6].try_into().unwrap()),
            RTM_NEWLINK
        );
        assert_eq!(u16::from_ne_bytes(msg[6..8].try_into().unwrap()), 0x5);
        assert_eq!(i32::from_ne_bytes(msg[20..24].try_into().unwrap()), 7);
        let mut attrs = attr(IFLA_IFNAME, b"ctr0\0");
        attrs.extend(attr(IFLA_NET_NS_FD, &12u32.to_ne_bytes()));
        assert_eq!(&msg[32..], attrs.as_slice());
    }

    #[test]
    fn an_ipv4_address_gets_its_broadcast_unless_its_subnet_is_too_narrow() {
        let v4 = |prefix_len| Address {
            family: AF_INET,
            bytes: vec![10, 1, 2, 3],
            prefix_len,
        };
        let wide = add_address(4, &v4(24));
        assert_eq!(
            &wide[wide.len() - 8..],
            attr(IFA_BROADCAST, &[10, 1, 2, 255]).as_slice()
        );
        let narrow = add_address(4, &v4(32));
        // Header, ifaddrmsg, IFA_LOCAL and IFA_ADDRESS only.
        assert_eq!(narrow.len(), 16 + 8 + 8 + 8);
        assert_eq!(narrow[17], 32, "prefix length");
        assert_eq!(v4(24).to_string(), "10.1.2.3/24");
    }

    fn addr_message(
        family: u8,
        prefix: u8,
        flags: u8,
        scope: u8,
        index: u32,
        attrs: &[u8],
    ) -> Vec<u8> {
        let mut p = vec![family, prefix, flags, scope];
        p.extend_from_slice(&index.to_ne_bytes());
        p.extend_from_slice(attrs);
        p
    }

    #[test]
    fn only_permanent_global_addresses_of_the_link_are_kept() {
        let local = attr(IFA_LOCAL, &[169, 254, 169, 77]);
        let permanent = IFA_F_PERMANENT as u8;
        let kept = addr_message(AF_INET, 32, permanent, 0, 5, &local);
        assert_eq!(
            permanent_global_address(&kept, 5).unwrap().to_string(),
            "169.254.169.77/32"
        );
        assert_eq!(permanent_global_address(&kept, 6), None, "another link");
        let host_scope = addr_message(AF_INET, 8, permanent, 254, 5, &local);
        assert_eq!(permanent_global_address(&host_scope, 5), None);
        let learnt = addr_message(AF_INET, 24, 0, 0, 5, &local);
        assert_eq!(permanent_global_address(&learnt, 5), None);
        // IFA_FLAGS, where present, is what counts.
        let mut with_flags = local.clone();
        with_flags.extend(attr(IFA_FLAGS, &IFA_F_PERMANENT.to_ne_bytes()));
        let flagged = addr_message(AF_INET, 24, 0, 0, 5, &with_flags);
        assert!(permanent_global_address(&flagged, 5).is_some());
        let v6 = addr_message(
            AF_INET6,
            64,
            permanent,
            0,
            5,
            &attr(
                IFA_ADDRESS,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ),
        );
        assert_eq!(
            permanent_global_address(&v6, 5).unwrap().to_string(),
            "2001:db8::1/64"
        );
    }

    #[test]
    fn replies_are_split_and_errors_read() {
        let mut buf = Vec::new();
        let msg = |kind: u16, payload: &[u8]| {
            let mut m = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
            m.extend_from_slice(&kind.to_ne_bytes());
            m.extend_from_slice(&[0; 10]);
            m.extend_from_slice(payload);
            m.resize(align4(m.len()), 0);
            m
        };
        buf.extend(msg(RTM_NEWADDR, &[1, 2, 3]));
        buf.extend(msg(NLMSG_ERROR, &(-19i32).to_ne_bytes()));
        buf.extend(msg(NLMSG_DONE, &[0; 4]));
        let r = replies(&buf).unwrap();
        assert_eq!(
            r,
            vec![
                Reply::Message {
                    kind: RTM_NEWADDR,
                    payload: &[1, 2, 3]
                },
                Reply::Ack { errno: 19 },
                Reply::Done
            ]
        );
        assert!(replies(&buf[..18]).is_err(), "a message cut short");
    }
}
