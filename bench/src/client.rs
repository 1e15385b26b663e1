//! One keep-alive HTTP/1.1 client connection, as the load generators hold
//! it: plain http on loopback, `TCP_NODELAY`, no pool and no retries, so
//! that every request the generator counts is one request on the wire.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

/// Where an `http://host:port/path` URL points.
pub(crate) struct Url {
    pub addr: SocketAddr,
    pub authority: String,
    pub path: String,
}

impl Url {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let rest = text
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("{text}: only http:// URLs"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{authority} resolves to nothing"))?;
        Ok(Self {
            addr,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

impl Connection {
    pub(crate) async fn open(url: &Url) -> anyhow::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(url.addr).await?;
        tcp.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            authority: url.authority.clone(),
        })
    }

    /// Sends a request; the caller reads the body.
    pub(crate) async fn send(
        &mut self,
        method: http::Method,
        path: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.authority);
        if !body.is_empty() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.sender.ready().await?;
        Ok(self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await?)
    }

    /// A GET whose whole answer is read.
    pub(crate) async fn get(&mut self, path: &str) -> anyhow::Result<(http::StatusCode, Bytes)> {
        use http_body_util::BodyExt;
        let response = self
            .send(http::Method::GET, path, &[], Bytes::new())
            .await?;
        let status = response.status();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }
}
