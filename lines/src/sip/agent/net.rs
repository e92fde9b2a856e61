//! Sockets for SIP and media: bound with their DSCP set (IP_TOS, or the IPv6 traffic class), and
//! media ports drawn at random from the configured range (even ports, as RTP wants; a port in
//! use by anything else is skipped), so that no one learns the next call's port from this one's.
//! A port is free again when its socket is dropped.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
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

/// The media port range, its ports drawn at random.
pub struct PortPool {
    first: u16,
    last: u16,
}

impl PortPool {
    pub fn new((first, last): (u16, u16)) -> PortPool {
        let first = first + first % 2;
        PortPool { first, last }
    }

    /// A media socket on `ip`, on a free even port of the range drawn at random (then the
    /// following ones, round the range, while they are taken).
    pub fn bind(&self, ip: IpAddr, dscp: u8) -> io::Result<UdpSocket> {
        let span = u32::from(self.last - self.first) / 2 + 1;
        let start = rand::random::<u32>() % span;
        for i in 0..span {
            let port = self.first + (((start + i) % span) * 2) as u16;
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
    async fn ports_are_drawn_at_random_from_the_range_and_busy_ones_skipped() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let pool = PortPool::new((41_001, 41_400));
        let sockets: Vec<UdpSocket> = (0..20).map(|_| pool.bind(ip, 46).unwrap()).collect();
        let ports: Vec<u16> = sockets
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert!(
            ports
                .iter()
                .all(|p| (41_002..=41_400).contains(p) && p % 2 == 0),
            "{ports:?}"
        );
        // in turn, 20 calls take 20 ports in a row; drawn at random they are not
        let in_a_row = ports.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(in_a_row < 10, "{ports:?}");
        // a range of two ports, one taken by someone else: the other one, every time
        let pool = PortPool::new((41_500, 41_502));
        let busy = bind_udp("127.0.0.1:41500".parse().unwrap(), 0).unwrap();
        for _ in 0..5 {
            let s = pool.bind(ip, 46).unwrap();
            assert_eq!(s.local_addr().unwrap().port(), 41_502);
        }
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
