//! What nodes say about the cluster: `CLUSTER NODES` lines and `INFO` fields.

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub(super) struct NodeLine {
    pub(super) id: String,
    pub(super) port: u16,
    pub(super) myself: bool,
    pub(super) primary: bool,
    /// Flagged `fail` (not just `fail?`).
    pub(super) failed: bool,
    /// For a replica, its primary's id.
    pub(super) primary_id: Option<String>,
    /// Slot ranges served, inclusive.
    pub(super) slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub(super) fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

/// The nodes of `CLUSTER NODES` output, leaving out those still in a handshake or without an
/// address.
pub(super) fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // <id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...
            let addr = f.get(1)?.split('@').next()?;
            let port = addr.rsplit(':').next()?.parse().ok()?;
            let flags: Vec<&str> = f.get(2)?.split(',').collect();
            if flags.contains(&"handshake") || flags.contains(&"noaddr") {
                return None;
            }
            let primary_id = f.get(3).filter(|m| **m != "-").map(|m| (*m).to_owned());
            let slots = f
                .iter()
                .skip(8)
                // `[slot->-id]` / `[slot-<-id]`: a migration in progress, not ownership.
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|n| (n, n)),
                })
                .collect();
            Some(NodeLine {
                id: f.first()?.to_string(),
                port,
                myself: flags.contains(&"myself"),
                primary: flags.contains(&"master"),
                failed: flags.contains(&"fail"),
                primary_id,
                slots,
            })
        })
        .collect()
}

/// The value of `field:` in `INFO`/`CLUSTER INFO` text.
pub(super) fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002,host master - 0 1426238316232 2 connected 5461-10922 [5461->-07c37dfeb235213a872192d90877d0cd55635b91]
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 16000
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@40005 master,fail - 1426238316232 0 5 disconnected
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 :0@0 handshake,noaddr - 0 0 0 disconnected
";

    #[test]
    fn parses_roles_slots_and_failures_and_skips_handshakes() {
        let lines = parse_nodes(NODES);
        assert_eq!(lines.len(), 4, "{lines:?}");
        let replica = &lines[0];
        assert_eq!(replica.port, 30004);
        assert!(!replica.primary && !replica.myself);
        assert_eq!(
            replica.primary_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        let migrating = &lines[1];
        assert_eq!(migrating.port, 30002);
        assert_eq!(
            migrating.slots,
            [(5461, 10922)],
            "a migration is not ownership"
        );
        let me = &lines[2];
        assert!(me.myself && me.primary && !me.failed);
        assert!(me.serves(0) && me.serves(5460) && me.serves(16000));
        assert!(!me.serves(5461));
        assert!(lines[3].failed && lines[3].slots.is_empty());
    }

    #[test]
    fn reads_info_fields() {
        let info = "# Cluster\r\ncluster_state:ok\r\ncluster_slots_assigned:16384\r\n";
        assert_eq!(info_field(info, "cluster_state"), Some("ok"));
        assert_eq!(info_field(info, "cluster_slots_assigned"), Some("16384"));
        assert_eq!(info_field(info, "cluster_slots"), None);
    }
}
