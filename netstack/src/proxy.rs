//! Userland proxy for published ports: serves connections DNAT cannot (loopback host addresses).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Mutex;

/// How long a UDP client's mapping lives without traffic.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// Forwards every accepted connection to `target`.
pub async fn tcp(listener: TcpListener, target: SocketAddr) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}

/// Relays datagrams between clients of `sock` and `target`, one upstream socket per client.
pub async fn udp(sock: UdpSocket, target: SocketAddr) {
    let sock = Arc::new(sock);
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, client)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let upstream = match session(&sessions, &sock, client, target).await {
            Some(u) => u,
            None => continue,
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

async fn session(
    sessions: &Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
    sock: &Arc<UdpSocket>,
    client: SocketAddr,
    target: SocketAddr,
) -> Option<Arc<UdpSocket>> {
    let mut map = sessions.lock().await;
    if let Some(u) = map.get(&client) {
        return Some(u.clone());
    }
    let upstream = UdpSocket::bind("0.0.0.0:0").await.ok()?;
    upstream.connect(target).await.ok()?;
    let upstream = Arc::new(upstream);
    map.insert(client, upstream.clone());
    let (sock, sessions, up) = (sock.clone(), sessions.clone(), upstream.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, up.recv(&mut buf)).await {
            let _ = sock.send_to(&buf[..n], client).await;
        }
        sessions.lock().await.remove(&client);
    });
    Some(upstream)
}
