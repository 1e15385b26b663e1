//! The resolver's cache against a DNS server of the test's own, which
//! answers with the TTLs a test chooses and counts the questions it is asked.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SOA};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

use super::dns::Dns;
use super::*;
use crate::manifest::Manifest;

/// An authoritative server for `test.`: `A` answers for the names it is
/// given; any other question gets no record, with the zone's SOA so that the
/// negative answer may be cached for `NEGATIVE_TTL` seconds, as real servers
/// answer.
struct DnsServer {
    addr: SocketAddr,
    /// Each question asked: the name (without the final dot) and its type.
    asked: Arc<Mutex<Vec<(String, RecordType)>>>,
}

const NEGATIVE_TTL: u32 = 300;

impl DnsServer {
    async fn start(names: &[(&str, Ipv4Addr, u32)]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let names: Vec<(String, Ipv4Addr, u32)> = names
            .iter()
            .map(|(name, ip, ttl)| (name.to_string(), *ip, *ttl))
            .collect();
        let log = asked.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                let question = Message::from_vec(&buf[..len]).unwrap();
                let answer = Self::answer(&question, &names, &log);
                socket
                    .send_to(&answer.to_vec().unwrap(), from)
                    .await
                    .unwrap();
            }
        });
        Self { addr, asked }
    }

    fn answer(
        question: &Message,
        names: &[(String, Ipv4Addr, u32)],
        log: &Mutex<Vec<(String, RecordType)>>,
    ) -> Message {
        let mut answer = Message::response(question.metadata.id, question.metadata.op_code);
        answer.metadata.authoritative = true;
        answer.metadata.recursion_desired = question.metadata.recursion_desired;
        answer.metadata.recursion_available = true;
        for query in &question.queries {
            answer.add_query(query.clone());
            let asked = query.name().to_ascii();
            let asked = asked.trim_end_matches('.').to_ascii_lowercase();
            log.lock()
                .unwrap()
                .push((asked.clone(), query.query_type()));
            let known = names.iter().find(|(name, ..)| *name == asked);
            match (known, query.query_type()) {
                (Some((_, ip, ttl)), RecordType::A) => {
                    answer.add_answer(Record::from_rdata(
                        query.name().clone(),
                        *ttl,
                        RData::A(A(*ip)),
                    ));
                }
                (known, _) => {
                    if known.is_none() {
                        answer.metadata.response_code = ResponseCode::NXDomain;
                    }
                    let zone = Name::from_ascii("test.").unwrap();
                    let soa = SOA::new(
                        Name::from_ascii("ns.test.").unwrap(),
                        Name::from_ascii("admin.test.").unwrap(),
                        1,
                        3600,
                        600,
                        86400,
                        NEGATIVE_TTL,
                    );
                    answer.add_authority(Record::from_rdata(zone, NEGATIVE_TTL, RData::SOA(soa)));
                }
            }
        }
        answer
    }

    /// A resolver asking this server only.
    fn dns(&self) -> Dns {
        let mut connection = ConnectionConfig::udp();
        connection.port = self.addr.port();
        let server = NameServerConfig::new(self.addr.ip(), true, vec![connection]);
        Dns::with_config(ResolverConfig::from_parts(None, Vec::new(), vec![server]))
    }

    /// How many `type` questions about `name` were asked.
    fn asked(&self, name: &str, kind: RecordType) -> usize {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, k)| n == name && *k == kind)
            .count()
    }

    fn questions(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

#[tokio::test]
async fn an_answer_is_reused_within_its_ttl() {
    let ip = Ipv4Addr::new(203, 0, 113, 7);
    let server = DnsServer::start(&[("api.test", ip, 300)]).await;
    let dns = server.dns();
    for _ in 0..5 {
        assert_eq!(dns.resolve("api.test", 443).await, Ok(vec![IpAddr::V4(ip)]));
    }
    assert_eq!(server.asked("api.test", RecordType::A), 1);
    // Both families are asked for, as getaddrinfo does; the negative
    // answer is cached too (for its SOA's TTL), or every request would ask.
    assert_eq!(server.asked("api.test", RecordType::AAAA), 1);
    assert_eq!(server.questions(), 2);
}

#[tokio::test]
async fn an_answer_is_asked_again_once_its_ttl_ends() {
    let ip = Ipv4Addr::new(203, 0, 113, 7);
    let server = DnsServer::start(&[("api.test", ip, 1)]).await;
    let dns = server.dns();
    let first = Instant::now();
    assert_eq!(dns.resolve("api.test", 443).await, Ok(vec![IpAddr::V4(ip)]));
    let deadline = first + Duration::from_secs(10);
    while server.asked("api.test", RecordType::A) < 2 {
        assert!(Instant::now() < deadline, "never asked again");
        assert_eq!(dns.resolve("api.test", 443).await, Ok(vec![IpAddr::V4(ip)]));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        first.elapsed() >= Duration::from_secs(1),
        "asked again after {:?}, before the 1 s TTL ended",
        first.elapsed()
    );
    // The negative AAAA answer lasts its own TTL.
    assert_eq!(server.asked("api.test", RecordType::AAAA), 1);
}

#[tokio::test]
async fn without_the_system_configuration_getaddrinfo_answers() {
    let found = Dns::uncached().resolve("localhost", 80).await.unwrap();
    assert!(found.iter().all(IpAddr::is_loopback), "{found:?}");
    assert!(!found.is_empty());
}

#[tokio::test]
async fn every_request_is_checked_against_the_policy_even_from_the_cache() {
    let server = DnsServer::start(&[
        ("public.test", Ipv4Addr::new(203, 0, 113, 7), 300),
        ("private.test", Ipv4Addr::new(10, 1, 2, 3), 300),
    ])
    .await;
    let policy = EgressPolicy::from_manifest(
        &Manifest::parse(
            r#"[egress]
allow = ["https://public.test", "https://private.test"]"#,
        )
        .unwrap(),
    )
    .unwrap()
    .with_dns(server.dns());
    for _ in 0..3 {
        let target = policy
            .check(&"https://public.test/v1".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(target.addrs, vec!["203.0.113.7:443".parse().unwrap()]);
        let refused = policy
            .check(&"https://private.test/v1".parse().unwrap())
            .await
            .unwrap_err();
        assert!(refused.contains("10.1.2.3 (private network)"), "{refused}");
    }
    assert_eq!(server.asked("public.test", RecordType::A), 1);
    assert_eq!(server.asked("private.test", RecordType::A), 1);
}
