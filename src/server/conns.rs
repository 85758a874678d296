//! The open connections, and which one goes when there are too many. Every
//! connection is accepted at once (none waits in a queue behind idle or
//! chatty clients); past `max_connections` in all, or `max_per_client` from
//! one address, the connection idle longest (no request in progress, no
//! byte moved for the longest time) is closed to make room, taken from the
//! client holding the most connections. A scraper's connection in use is
//! never the one shed; a slow-loris connection, still sending its head, is
//! idle in this sense and goes first.

use super::idle_io::Activity;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

struct Entry {
    ip: IpAddr,
    activity: Arc<Activity>,
    busy: Arc<AtomicUsize>,
    shed: CancellationToken,
}

#[derive(Default)]
struct Inner {
    next: u64,
    conns: HashMap<u64, Entry>,
    per_ip: HashMap<IpAddr, usize>,
}

/// The connection table of one server.
pub(super) struct Table {
    inner: Mutex<Inner>,
    max_total: usize,
    max_per_client: usize,
}

/// One open connection's place in the table; leaving it frees the place.
pub(super) struct Ticket {
    table: Arc<Table>,
    id: u64,
    /// Cancelled when this connection is shed.
    pub shed: CancellationToken,
    pub activity: Arc<Activity>,
    /// Requests in progress on this connection.
    pub busy: Arc<AtomicUsize>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        if let Some(e) = t.conns.remove(&self.id) {
            if let Some(n) = t.per_ip.get_mut(&e.ip) {
                *n -= 1;
                if *n == 0 {
                    t.per_ip.remove(&e.ip);
                }
            }
        }
    }
}

impl Table {
    pub(super) fn new(max_total: usize, max_per_client: usize) -> Arc<Table> {
        Arc::new(Table {
            inner: Mutex::new(Inner::default()),
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// Admit a new connection from `ip`; returns its ticket and the reasons
    /// of the connections shed to make room.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> (Ticket, Vec<&'static str>) {
        let activity = Arc::new(Activity::new());
        let busy = Arc::new(AtomicUsize::new(0));
        let shed = CancellationToken::new();
        let mut t = self.lock();
        let id = t.next;
        t.next += 1;
        t.conns.insert(
            id,
            Entry {
                ip,
                activity: activity.clone(),
                busy: busy.clone(),
                shed: shed.clone(),
            },
        );
        let from_ip = {
            let n = t.per_ip.entry(ip).or_insert(0);
            *n += 1;
            *n
        };
        let mut reasons = Vec::new();
        if from_ip > self.max_per_client && shed_idlest(&mut t, id, Some(ip)) {
            reasons.push("client_limit");
        }
        if t.conns.len() > self.max_total {
            let heaviest = t.per_ip.iter().max_by_key(|(_, n)| **n).map(|(ip, _)| *ip);
            if shed_idlest(&mut t, id, heaviest) || shed_idlest(&mut t, id, None) {
                reasons.push("connection_limit");
            }
        }
        drop(t);
        let ticket = Ticket {
            table: self.clone(),
            id,
            shed,
            activity,
            busy,
        };
        (ticket, reasons)
    }

    /// Shed the connection idle longest (of `ip` if given) to free a file
    /// descriptor when accepting fails for want of one.
    pub(super) fn shed_one(&self) -> bool {
        shed_idlest(&mut self.lock(), u64::MAX, None)
    }
}

/// Cancel the idle connection (not `except`, of `ip` if given) whose last
/// byte is oldest; true when there was one. It leaves the table when its
/// task ends, so it is marked by its cancelled token meanwhile.
fn shed_idlest(t: &mut Inner, except: u64, ip: Option<IpAddr>) -> bool {
    let victim = t
        .conns
        .iter()
        .filter(|(id, e)| {
            **id != except
                && ip.is_none_or(|ip| e.ip == ip)
                && e.busy.load(Ordering::Relaxed) == 0
                && !e.shed.is_cancelled()
        })
        .min_by_key(|(_, e)| e.activity.last())
        .map(|(id, _)| *id);
    match victim.and_then(|id| t.conns.get(&id)) {
        Some(e) => {
            e.shed.cancel();
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_client_over_its_cap_loses_its_idlest_connection_never_a_busy_one() {
        let table = Table::new(10, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let (a1, shed) = table.admit(a);
        assert!(shed.is_empty());
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let (a2, _) = table.admit(a);
        a1.busy.store(1, Ordering::Relaxed); // a1 is answering a request
        let (a3, shed) = table.admit(a);
        assert_eq!(shed, ["client_limit"]);
        assert!(
            !a1.shed.is_cancelled(),
            "a request in progress is never shed"
        );
        assert!(a2.shed.is_cancelled());
        assert!(!a3.shed.is_cancelled(), "the newcomer stays");
        drop(a2);
        assert_eq!(table.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_total_cap_the_heaviest_client_gives_way() {
        let table = Table::new(4, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let (b1, _) = table.admit(b);
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let (a1, _) = table.admit(a);
        let (a2, _) = table.admit(a);
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let (a3, _) = table.admit(a);
        let (b2, shed) = table.admit(b);
        assert_eq!(shed, ["connection_limit"]);
        assert!(!b1.shed.is_cancelled(), "b1 is idlest, but b holds fewer");
        assert!(a1.shed.is_cancelled() ^ a2.shed.is_cancelled());
        assert!(!a3.shed.is_cancelled() && !b2.shed.is_cancelled());
        assert!(table.shed_one(), "a descriptor can be freed");
    }
}
