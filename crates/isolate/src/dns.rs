//! phonehome's DNS server for the namespace (RFC 1035): every query on UDP or TCP port 53,
//! whatever server it was sent to, is answered here. Names are resolved on the host with the
//! system resolver, each query becomes a `dns` record, and the addresses given are remembered
//! so that connections to them are attributed to the name the client looked up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use phonehome_record::{Blocked, Dns, Record, Target};
use simple_dns::rdata::{RData, A, AAAA};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::sink::Sink;

/// Seconds a client may keep an answer. Short: the host's answers may change.
const TTL: u32 = 30;

/// Answers queries and remembers which name each address was given for.
pub(crate) struct Resolver {
    names: Mutex<HashMap<IpAddr, String>>,
    /// Sinkhole addresses given so far, per denied name.
    sinkholed: Mutex<HashMap<String, IpAddr>>,
    host_loopback: bool,
    sink: Arc<dyn Sink>,
}

impl Resolver {
    pub(crate) fn new(host_loopback: bool, sink: Arc<dyn Sink>) -> Self {
        Self {
            names: Mutex::new(HashMap::new()),
            sinkholed: Mutex::new(HashMap::new()),
            host_loopback,
            sink,
        }
    }

    /// The name last answered with `ip`.
    pub(crate) fn name_of(&self, ip: IpAddr) -> Option<String> {
        self.lock().get(&ip).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, String>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reply to one DNS message; `None` when it is not a query phonehome can parse.
    pub(crate) async fn answer(&self, message: &[u8]) -> Option<Vec<u8>> {
        let query = Query::parse(message)?;
        let found = self.resolve(&query.name, query.question.qtype).await;
        if let Lookup::Addresses(addresses) = &found {
            let mut names = self.lock();
            for ip in addresses {
                names.insert(*ip, query.name.clone());
            }
        }
        self.sink.record(Record::Dns(Dns {
            ts: phonehome_record::now(),
            query: query.name.clone(),
            qtype: qtype_name(query.question.qtype),
            answers: found.addresses().iter().map(IpAddr::to_string).collect(),
        }));
        query.reply(&found)
    }

    async fn resolve(&self, name: &str, qtype: QTYPE) -> Lookup {
        let family = match qtype {
            QTYPE::TYPE(TYPE::A) => Family::V4,
            QTYPE::TYPE(TYPE::AAAA) => Family::V6,
            _ => Family::Neither,
        };

        if self.host_loopback
            && (name == crate::HOST_LOOPBACK_NAME
                || name.ends_with(&format!(".{}", crate::HOST_LOOPBACK_NAME)))
        {
            // IPv4 only: servers on the host's loopback listen on 127.0.0.1 far more often
            // than on ::1 (the v6 gateway reaches ::1 for clients that use it by address).
            return Lookup::Addresses(family.filter(vec![IpAddr::V4(crate::GATEWAY_V4)]));
        }
        let target = Target {
            host: name.to_owned(),
            port: 53,
        };
        if let Some((rule, enforced)) = self.sink.deny(&target) {
            if enforced && self.sink.sinkholes_denials() {
                // The connection that follows is denied, and read, by the sinkhole.
                return Lookup::Addresses(family.filter(vec![self.sinkhole_address(name)]));
            }
            self.sink.record(Record::Blocked(Blocked {
                ts: phonehome_record::now(),
                conn: None,
                flow: None,
                target,
                method: None,
                url: None,
                rule,
                enforced,
            }));
            if enforced {
                return Lookup::Denied;
            }
        }
        if matches!(family, Family::Neither) {
            // Only addresses are answered (no HTTPS, SVCB, TXT records): no need to ask.
            return Lookup::Addresses(Vec::new());
        }
        match tokio::net::lookup_host((name, 0)).await {
            Ok(addresses) => {
                let mut ips: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
                ips.dedup();
                Lookup::Addresses(family.filter(ips))
            }
            Err(_) => Lookup::NoName,
        }
    }

    /// The sinkhole address of a denied name: the same for every query of the name, a new one
    /// of [`crate::SINKHOLE_V4`]'s /15 for each new name (the range wraps after 131,070).
    fn sinkhole_address(&self, name: &str) -> IpAddr {
        let mut sinkholed = self.sinkholed.lock().unwrap_or_else(|e| e.into_inner());
        let next = u32::try_from(sinkholed.len() % 131_070).expect("below 2^17") + 1;
        *sinkholed.entry(name.to_owned()).or_insert_with(|| {
            IpAddr::V4(std::net::Ipv4Addr::from(
                u32::from(crate::SINKHOLE_V4) + next,
            ))
        })
    }

    /// Serves DNS over TCP (RFC 1035 §4.2.2: each message with a two-byte length) until the
    /// client closes.
    pub(crate) async fn serve_tcp(&self, mut stream: impl AsyncRead + AsyncWrite + Unpin) {
        loop {
            let Ok(len) = stream.read_u16().await else {
                return;
            };
            let mut message = vec![0u8; usize::from(len)];
            if stream.read_exact(&mut message).await.is_err() {
                return;
            }
            let Some(reply) = self.answer(&message).await else {
                return;
            };
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            if stream.write_u16(len).await.is_err() || stream.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

pub(crate) enum Lookup {
    Addresses(Vec<IpAddr>),
    NoName,
    Denied,
}

impl Lookup {
    fn addresses(&self) -> &[IpAddr] {
        match self {
            Lookup::Addresses(addresses) => addresses,
            Lookup::NoName | Lookup::Denied => &[],
        }
    }
}

/// A parsed DNS query: its first question (clients send one, RFC 9619).
pub(crate) struct Query<'a> {
    id: u16,
    recursion_desired: bool,
    question: simple_dns::Question<'a>,
    /// The queried name, lowercase, without the trailing dot.
    name: String,
}

impl<'a> Query<'a> {
    /// `None` when `message` is not a DNS message with a question.
    pub(crate) fn parse(message: &'a [u8]) -> Option<Self> {
        let packet = Packet::parse(message).ok()?;
        let question = packet.questions.first()?.clone();
        let name = question
            .qname
            .to_string()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        Some(Self {
            id: packet.id(),
            recursion_desired: packet.has_flags(PacketFlag::RECURSION_DESIRED),
            question,
            name,
        })
    }

    /// The reply to this query with `found`'s addresses (or its error code).
    pub(crate) fn reply(&self, found: &Lookup) -> Option<Vec<u8>> {
        let mut reply = Packet::new_reply(self.id);
        reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
        if self.recursion_desired {
            reply.set_flags(PacketFlag::RECURSION_DESIRED);
        }
        reply.questions.push(self.question.clone());
        match found {
            Lookup::Addresses(_) => {}
            Lookup::NoName => *reply.rcode_mut() = RCODE::NameError,
            Lookup::Denied => *reply.rcode_mut() = RCODE::Refused,
        }
        let owner = self.question.qname.clone();
        for ip in found.addresses() {
            let rdata = match ip {
                IpAddr::V4(v4) => RData::A(A {
                    address: u32::from(*v4),
                }),
                IpAddr::V6(v6) => RData::AAAA(AAAA {
                    address: u128::from(*v6),
                }),
            };
            reply
                .answers
                .push(ResourceRecord::new(owner.clone(), CLASS::IN, TTL, rdata));
        }
        reply.build_bytes_vec().ok()
    }
}

#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
    Neither,
}

impl Family {
    fn filter(self, ips: Vec<IpAddr>) -> Vec<IpAddr> {
        ips.into_iter()
            .filter(|ip| match self {
                Family::V4 => ip.is_ipv4(),
                Family::V6 => ip.is_ipv6(),
                Family::Neither => false,
            })
            .collect()
    }
}

/// The query type's mnemonic (RFC 1035, RFC 3596, RFC 9460), else `TYPE<n>` (RFC 3597 §5).
fn qtype_name(qtype: QTYPE) -> String {
    let n = u16::from(qtype);
    let name = match n {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        _ => return format!("TYPE{n}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::Name;

    struct Collect(Mutex<Vec<Record>>);

    impl Sink for Collect {
        fn record(&self, record: Record) {
            self.0.lock().expect("lock").push(record);
        }
        fn deny(&self, target: &Target) -> Option<(String, bool)> {
            (target.host == "denied.test").then(|| ("test rule".to_owned(), true))
        }
        fn connection(&self, _connection: crate::Connection) {}
    }

    fn query(name: &str, qtype: TYPE) -> Vec<u8> {
        let mut packet = Packet::new_query(7);
        packet.questions.push(simple_dns::Question::new(
            Name::new_unchecked(name),
            QTYPE::TYPE(qtype),
            simple_dns::QCLASS::CLASS(CLASS::IN),
            false,
        ));
        packet.build_bytes_vec().expect("query")
    }

    #[tokio::test]
    async fn answers_the_host_loopback_name_and_remembers_it() {
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let resolver = Resolver::new(true, sink.clone());
        let reply = resolver
            .answer(&query(crate::HOST_LOOPBACK_NAME, TYPE::A))
            .await
            .expect("reply");
        let reply = Packet::parse(&reply).expect("parses");
        assert_eq!(reply.id(), 7);
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(
            resolver.name_of(IpAddr::V4(crate::GATEWAY_V4)).as_deref(),
            Some(crate::HOST_LOOPBACK_NAME)
        );
        let records = sink.0.lock().expect("lock");
        assert!(
            matches!(&records[0], Record::Dns(d) if d.qtype == "A" && d.answers == ["10.0.2.2"])
        );
    }

    #[tokio::test]
    async fn a_denied_name_is_refused_and_not_resolved() {
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let resolver = Resolver::new(false, sink.clone());
        let reply = resolver
            .answer(&query("denied.test", TYPE::AAAA))
            .await
            .expect("reply");
        let reply = Packet::parse(&reply).expect("parses");
        assert_eq!(reply.rcode(), RCODE::Refused);
        let records = sink.0.lock().expect("lock");
        assert!(matches!(&records[0], Record::Blocked(b) if b.target.host == "denied.test"));
        assert!(matches!(&records[1], Record::Dns(d) if d.answers.is_empty()));
    }

    #[test]
    fn malformed_queries_are_not_answered() {
        let good = query("a.test", TYPE::A);
        for cut in 0..good.len() {
            crate::fuzzing::dns_query(&good[..cut]);
        }
        assert!(Query::parse(&good[..good.len() - 1]).is_none());
        assert!(
            Query::parse(b"\x00\x07\x01\x00\x00\x00").is_none(),
            "no question"
        );
        let mut compressed_loop = good.clone();
        compressed_loop.splice(12..12, [0xc0, 0x0c]);
        crate::fuzzing::dns_query(&compressed_loop);
        let parsed = Query::parse(&good).expect("parses");
        assert_eq!(parsed.name, "a.test");
        let reply = parsed.reply(&Lookup::NoName).expect("reply");
        assert_eq!(
            Packet::parse(&reply).expect("parses").rcode(),
            RCODE::NameError
        );
    }

    #[test]
    fn names_query_types() {
        assert_eq!(qtype_name(QTYPE::TYPE(TYPE::AAAA)), "AAAA");
        assert_eq!(qtype_name(QTYPE::TYPE(TYPE::Unknown(4242))), "TYPE4242");
    }
}
