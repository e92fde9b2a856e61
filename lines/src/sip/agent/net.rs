//! Sockets for SIP and media: bound with their DSCP set (IP_TOS, or the IPv6 traffic class), and
//! media ports taken in turn from the configured range (even ports, as RTP wants; a port in use
//! by anything else is skipped). A port is free again when its socket is dropped.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Mutex;
use tokio::net::UdpSocket;

/// A UDP socket bound to `addr` whose packets carry `dscp`.
pub fn bind_udp(addr: SocketAddr, dscp: u8) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let tos = u32::from(dscp) << 2;
    if addr.is_ipv4() {
        socket.set_tos_v4(tos)?;
    } else {
        socket.set_tclass_v6(tos)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(StdUdpSocket::from(socket))
}

/// The media port range, handed out in turn.
pub struct PortPool {
    first: u16,
    last: u16,
    next: Mutex<u16>,
}

impl PortPool {
    pub fn new((first, last): (u16, u16)) -> PortPool {
        let first = first + first % 2;
        PortPool {
            first,
            last,
            next: Mutex::new(first),
        }
    }

    /// A media socket on `ip`, on the next free even port of the range.
    pub fn bind(&self, ip: IpAddr, dscp: u8) -> io::Result<UdpSocket> {
        let span = u32::from(self.last - self.first) / 2 + 1;
        for _ in 0..span {
            let port = {
                let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
                let port = *next;
                *next = if port + 2 > self.last {
                    self.first
                } else {
                    port + 2
                };
                port
            };
            match bind_udp(SocketAddr::new(ip, port), dscp) {
                Ok(socket) => return Ok(socket),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("every media port {}-{} is in use", self.first, self.last),
        ))
    }
}

/// The address this machine uses to reach `peer` (the source a routed packet would have).
pub fn source_for(peer: SocketAddr) -> IpAddr {
    let any: SocketAddr = if peer.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    StdUdpSocket::bind(any)
        .and_then(|s| s.connect(peer).and_then(|()| s.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(any.ip())
}

/// `host[:port]` (5060 by default), resolved.
pub async fn resolve(target: &str) -> io::Result<SocketAddr> {
    let target = target.trim();
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = target.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 5060));
    }
    let has_port = target
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.contains(':') && port.parse::<u16>().is_ok());
    let with_port = if has_port {
        target.to_string()
    } else {
        format!("{target}:5060")
    };
    tokio::net::lookup_host(&with_port)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{target}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ports_come_from_the_range_in_turn_and_skip_the_busy_ones() {
        let pool = PortPool::new((41_000, 41_006));
        let busy = bind_udp("127.0.0.1:41002".parse().unwrap(), 0).unwrap();
        let a = pool.bind("127.0.0.1".parse().unwrap(), 46).unwrap();
        let b = pool.bind("127.0.0.1".parse().unwrap(), 46).unwrap();
        assert_eq!(a.local_addr().unwrap().port(), 41_000);
        assert_eq!(b.local_addr().unwrap().port(), 41_004, "41002 was taken");
        drop(busy);
    }

    #[tokio::test]
    async fn targets_resolve_with_the_default_port() {
        assert_eq!(
            resolve("127.0.0.1").await.unwrap(),
            "127.0.0.1:5060".parse().unwrap()
        );
        assert_eq!(
            resolve("127.0.0.1:5080").await.unwrap(),
            "127.0.0.1:5080".parse().unwrap()
        );
        assert_eq!(resolve("localhost:5070").await.unwrap().port(), 5070);
        assert_eq!(resolve("::1").await.unwrap(), "[::1]:5060".parse().unwrap());
    }
}
