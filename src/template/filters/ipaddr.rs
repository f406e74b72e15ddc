//! The `ansible.utils` address filters: `ipaddr`, `ipv4`, `ipv6`, `ipwrap`, `ipmath`,
//! `ipsubnet`, `nthhost`, `next_nth_usable`, `previous_nth_usable`, `network_in_network`
//! and `network_in_usable`.
//!
//! They follow `ansible.utils`' `ipaddr_utils.py` on top of `netaddr`: a value that is not
//! an address gives `False` rather than an error, `192.168.1.10/24 | ipaddr('network')`
//! is `192.168.1.0`, and a number picks an address inside a network
//! (`'10.0.0.0/24' | ipaddr(5)` is `10.0.0.5/24`). Whether an address is `public` or
//! `private` follows the IANA special-purpose registries as `netaddr` 1.x does.

use std::net::{Ipv4Addr, Ipv6Addr};

use minijinja::value::ValueKind;
use minijinja::{Error, Value};

use super::python::{failure, integer_of, is_list, py_str};

/// An address with a prefix length, like `netaddr.IPNetwork`: host bits are kept.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Net {
    v6: bool,
    ip: u128,
    prefix: u32,
}

impl Net {
    fn width(&self) -> u32 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn max(&self) -> u128 {
        if self.v6 {
            u128::MAX
        } else {
            u128::from(u32::MAX)
        }
    }

    fn netmask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            (self.max() << (self.width() - self.prefix)) & self.max()
        }
    }

    fn hostmask(&self) -> u128 {
        !self.netmask() & self.max()
    }

    fn network(&self) -> u128 {
        self.ip & self.netmask()
    }

    fn last(&self) -> u128 {
        self.network() | self.hostmask()
    }

    fn broadcast(&self) -> Option<u128> {
        (self.width() - self.prefix > 1).then(|| self.last())
    }

    /// The number of addresses, saturated at `u128::MAX` for an IPv6 `/0`.
    fn size(&self) -> u128 {
        1u128
            .checked_shl(self.width() - self.prefix)
            .unwrap_or(u128::MAX)
    }

    fn text(&self, address: u128) -> String {
        if self.v6 {
            Ipv6Addr::from(address).to_string()
        } else {
            Ipv4Addr::from(address as u32).to_string()
        }
    }

    fn ip_text(&self) -> String {
        self.text(self.ip)
    }

    /// `str(IPNetwork)`: the address as given, with its prefix.
    fn cidr_text(&self) -> String {
        format!("{}/{}", self.ip_text(), self.prefix)
    }

    pub(crate) fn contains(&self, other: &Net) -> bool {
        self.v6 == other.v6 && other.network() >= self.network() && other.last() <= self.last()
    }

    fn in_range(&self, address: u128, prefix: u32, base: &str) -> bool {
        let range = Net {
            v6: self.v6,
            ip: parse_address(base).map(|n| n.ip).unwrap_or(0),
            prefix,
        };
        address & range.netmask() == range.network()
    }

    fn is_loopback(&self) -> bool {
        if self.v6 {
            self.ip == 1
        } else {
            self.in_range(self.ip, 8, "127.0.0.0")
        }
    }

    fn is_multicast(&self) -> bool {
        if self.v6 {
            self.in_range(self.ip, 8, "ff00::")
        } else {
            self.in_range(self.ip, 4, "224.0.0.0")
        }
    }

    fn is_link_local(&self) -> bool {
        if self.v6 {
            self.in_range(self.ip, 10, "fe80::")
        } else {
            self.in_range(self.ip, 16, "169.254.0.0")
        }
    }

    /// Globally reachable per the IANA special-purpose registries.
    fn is_global(&self) -> bool {
        let within = |ranges: &[(&str, u32)]| {
            ranges
                .iter()
                .any(|(base, prefix)| self.in_range(self.ip, *prefix, base))
        };
        if self.v6 {
            let exceptions = [
                ("2001:1::1", 128),
                ("2001:1::2", 128),
                ("2001:3::", 32),
                ("2001:4:112::", 48),
                ("2001:20::", 28),
                ("2001:30::", 28),
            ];
            let reserved = [
                ("::1", 128),
                ("::", 128),
                ("::ffff:0:0", 96),
                ("64:ff9b:1::", 48),
                ("100::", 64),
                ("2001::", 23),
                ("2001:db8::", 32),
                ("2002::", 16),
                ("fc00::", 7),
                ("fe80::", 10),
            ];
            within(&exceptions) || !within(&reserved)
        } else {
            let exceptions = [("192.0.0.9", 32), ("192.0.0.10", 32)];
            let reserved = [
                ("0.0.0.0", 8),
                ("10.0.0.0", 8),
                ("100.64.0.0", 10),
                ("127.0.0.0", 8),
                ("169.254.0.0", 16),
                ("172.16.0.0", 12),
                ("192.0.0.0", 24),
                ("192.0.2.0", 24),
                ("192.168.0.0", 16),
                ("198.18.0.0", 15),
                ("198.51.100.0", 24),
                ("203.0.113.0", 24),
                ("240.0.0.0", 4),
                ("255.255.255.255", 32),
            ];
            within(&exceptions) || !within(&reserved)
        }
    }
}

fn parse_address(text: &str) -> Option<Net> {
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Some(Net {
            v6: false,
            ip: u128::from(u32::from(v4)),
            prefix: 32,
        });
    }
    text.parse::<Ipv6Addr>().ok().map(|v6| Net {
        v6: true,
        ip: u128::from(v6),
        prefix: 128,
    })
}

/// `netaddr.IPNetwork(text)`: an address, optionally with `/prefix`, `/netmask` or
/// `/hostmask`.
pub(crate) fn parse_network(text: &str) -> Option<Net> {
    let text = text.trim();
    let Some((address, suffix)) = text.split_once('/') else {
        return parse_address(text);
    };
    let mut net = parse_address(address)?;
    if let Ok(prefix) = suffix.parse::<u32>() {
        if prefix > net.width() || suffix.starts_with('+') {
            return None;
        }
        net.prefix = prefix;
        return Some(net);
    }
    let mask = parse_address(suffix).filter(|mask| mask.v6 == net.v6)?;
    let ones = mask.ip.count_ones();
    let as_netmask = Net {
        prefix: ones,
        ..net
    };
    let as_hostmask = Net {
        prefix: net.width() - ones,
        ..net
    };
    if as_netmask.netmask() == mask.ip {
        net.prefix = ones;
    } else if as_hostmask.hostmask() == mask.ip && !net.v6 {
        net.prefix = as_hostmask.prefix;
    } else {
        return None;
    }
    Some(net)
}

/// Reads a value as `ipaddr` does: a number is an address (IPv4 when it fits), a string
/// an address or network, `1234/24` a numeric network. The second item says whether the
/// value named a network (had a `/`), which decides how some queries print.
fn read_value(value: &Value, version: Option<u8>) -> Option<(Net, bool, String)> {
    let text = py_str(value);
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        let number: u128 = text.parse().ok()?;
        let v6 = version == Some(6) || number > u128::from(u32::MAX);
        let net = Net {
            v6,
            ip: number,
            prefix: if v6 { 128 } else { 32 },
        };
        return Some((net, false, net.cidr_text()));
    }
    if let Some(net) = parse_network(&text) {
        return Some((net, text.matches('/').count() == 1, text));
    }
    let (address, prefix) = text.split_once('/')?;
    let address: u128 = address.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let net = if address <= u128::from(u32::MAX) && prefix <= 32 {
        Net {
            v6: false,
            ip: address,
            prefix,
        }
    } else if prefix <= 128 {
        Net {
            v6: true,
            ip: address,
            prefix,
        }
    } else {
        return None;
    };
    Some((net, true, net.cidr_text()))
}

const QUERIES: &[&str] = &[
    "",
    "6to4",
    "address",
    "address/prefix",
    "bool",
    "broadcast",
    "cidr",
    "cidr_lookup",
    "first_usable",
    "gateway",
    "gw",
    "host",
    "host/prefix",
    "hostmask",
    "hostnet",
    "int",
    "ip",
    "ip/prefix",
    "ip_netmask",
    "ipv4",
    "ipv6",
    "last_usable",
    "link-local",
    "lo",
    "loopback",
    "multicast",
    "net",
    "next_usable",
    "netmask",
    "network",
    "network_id",
    "network/prefix",
    "network_netmask",
    "network_wildcard",
    "peer",
    "prefix",
    "previous_usable",
    "private",
    "public",
    "range_usable",
    "revdns",
    "router",
    "size",
    "size_usable",
    "subnet",
    "type",
    "unicast",
    "v4",
    "v6",
    "version",
    "wildcard",
    "wrap",
];

fn no() -> Value {
    Value::from(false)
}

fn none() -> Value {
    Value::from(())
}

/// `ipaddr(value, query, version)`.
pub(crate) fn ipaddr(
    value: &Value,
    query: &Value,
    version: Option<u8>,
    alias: &str,
) -> Result<Value, Error> {
    if is_list(value) {
        let query = Value::from(py_str(query));
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let result = ipaddr(&item, &query, version, alias)?;
            if result.is_true() {
                out.push(result);
            }
        }
        return Ok(Value::from(out));
    }
    if !value.is_true() || (value.kind() == ValueKind::Bool) {
        return Ok(no());
    }
    let Some((net, is_network, text)) = read_value(value, version) else {
        return Ok(no());
    };
    let query_text = if query.is_none() || query.is_undefined() {
        String::new()
    } else {
        py_str(query)
    };
    let mut lookup = None;
    if !query_text.is_empty()
        && (!QUERIES.contains(&query_text.as_str()) || query_text == "cidr_lookup")
        && !query_text.chars().all(|c| c.is_ascii_digit())
        && ipaddr(
            &Value::from(query_text.as_str()),
            &Value::from("network"),
            None,
            alias,
        )?
        .is_true()
    {
        lookup = parse_network(&query_text);
    }
    if version.is_some_and(|wanted| (wanted == 6) != net.v6) {
        return Ok(no());
    }
    let original = Value::from(text);
    let size = net.size();
    let string = Value::from;
    let usable = || -> Option<(u128, u128)> {
        match size {
            2 => Some((net.network(), net.last())),
            s if s > 1 => Some((net.network() + 1, net.last() - 1)),
            _ => None,
        }
    };
    let not_network = || failure(format!("{alias}: not a network address"));
    if let Some(range) = lookup {
        return Ok(if range.contains(&net) {
            original
        } else {
            none()
        });
    }
    Ok(match query_text.as_str() {
        "" => string(if is_network {
            net.cidr_text()
        } else {
            net.ip_text()
        }),
        "address" | "ip" => {
            if size == 1 || net.ip != net.network() || net.broadcast().is_none() || net.v6 {
                string(net.ip_text())
            } else {
                none()
            }
        }
        "address/prefix" | "gateway" | "gw" | "host/prefix" | "hostnet" | "router" => {
            if size > 2 && (net.ip == net.network() || Some(net.ip) == net.broadcast()) {
                no()
            } else {
                string(net.cidr_text())
            }
        }
        "bool" => Value::from(true),
        "broadcast" => match net.broadcast() {
            Some(broadcast) if size > 2 => string(net.text(broadcast)),
            _ => none(),
        },
        "cidr" => string(net.cidr_text()),
        "first_usable" => {
            if !is_network {
                return Err(not_network());
            }
            usable().map_or_else(none, |(first, _)| string(net.text(first)))
        }
        "last_usable" => {
            if !is_network {
                return Err(not_network());
            }
            usable().map_or_else(none, |(_, last)| string(net.text(last)))
        }
        "next_usable" | "previous_usable" => {
            if !is_network {
                return Err(not_network());
            }
            let Some((first, last)) = usable() else {
                return Ok(none());
            };
            let candidate = if query_text == "next_usable" {
                net.ip.checked_add(1)
            } else {
                net.ip.checked_sub(1)
            };
            match candidate {
                Some(address) if address >= first && address <= last => string(net.text(address)),
                _ => none(),
            }
        }
        "range_usable" => {
            if !is_network {
                return Err(not_network());
            }
            usable().map_or_else(none, |(first, last)| {
                string(format!("{}-{}", net.text(first), net.text(last)))
            })
        }
        "host" => {
            if size == 1 || net.ip != net.network() || net.broadcast().is_none() {
                string(net.cidr_text())
            } else {
                none()
            }
        }
        "hostmask" | "wildcard" => string(net.text(net.hostmask())),
        "int" => {
            if is_network {
                string(format!("{}/{}", net.ip, net.prefix))
            } else {
                Value::from(net.ip)
            }
        }
        "ip/prefix" => {
            if size == 2 || (size > 1 && net.ip != net.network()) {
                string(net.cidr_text())
            } else {
                none()
            }
        }
        "ip_netmask" => {
            if size == 2 || (size > 1 && net.ip != net.network()) {
                string(format!("{} {}", net.ip_text(), net.text(net.netmask())))
            } else {
                none()
            }
        }
        "ipv4" | "v4" => {
            if !net.v6 {
                original
            } else if net.ip <= 0xffff_ffff_ffff && net.prefix >= 96 {
                let low = if net.ip > u128::from(u32::MAX) {
                    net.ip - 0xffff_0000_0000
                } else {
                    net.ip
                };
                string(format!(
                    "{}/{}",
                    Ipv4Addr::from(low as u32),
                    net.prefix - 96
                ))
            } else {
                no()
            }
        }
        "ipv6" | "v6" => {
            if net.v6 {
                original
            } else {
                let mapped = Net {
                    v6: true,
                    ip: 0xffff_0000_0000 + net.ip,
                    prefix: net.prefix + 96,
                };
                string(mapped.cidr_text())
            }
        }
        "link-local" => {
            if net.is_link_local() {
                original
            } else {
                none()
            }
        }
        "lo" | "loopback" => {
            if net.is_loopback() {
                original
            } else {
                none()
            }
        }
        "multicast" => {
            if net.is_multicast() {
                original
            } else {
                none()
            }
        }
        "unicast" => {
            if net.is_multicast() {
                none()
            } else {
                original
            }
        }
        "private" => {
            if net.is_global() {
                none()
            } else {
                original
            }
        }
        "public" => {
            let mask_like = |bits: u128| (bits + 1) & bits == 0;
            let is_netmask = mask_like(net.ip ^ net.max());
            let is_hostmask = mask_like(net.ip);
            if !net.is_multicast()
                && net.is_global()
                && !net.is_loopback()
                && !is_netmask
                && !is_hostmask
            {
                original
            } else {
                none()
            }
        }
        "net" => {
            if size > 1 && net.ip == net.network() {
                string(format!("{}/{}", net.text(net.network()), net.prefix))
            } else {
                none()
            }
        }
        "netmask" => string(net.text(net.netmask())),
        "network" | "network_id" => string(net.text(net.network())),
        "network/prefix" | "subnet" => {
            string(format!("{}/{}", net.text(net.network()), net.prefix))
        }
        "network_netmask" => string(format!(
            "{} {}",
            net.text(net.network()),
            net.text(net.netmask())
        )),
        "network_wildcard" => string(format!(
            "{} {}",
            net.text(net.network()),
            net.text(net.hostmask())
        )),
        "peer" => {
            if !is_network {
                return Err(not_network());
            }
            match size {
                2 => string(net.text(net.ip ^ 1)),
                4 if net.ip % 4 == 0 => return Err(failure("Network address of /30 has no peer")),
                4 if net.ip % 4 == 3 => {
                    return Err(failure("Broadcast address of /30 has no peer"))
                }
                4 => string(net.text(net.ip ^ 3)),
                _ => return Err(failure("Not a point-to-point network")),
            }
        }
        "prefix" => Value::from(net.prefix),
        "revdns" => string(reverse_dns(&net)),
        "size" => Value::from(size),
        "size_usable" => Value::from(match size {
            1 => 0,
            2 => 2,
            s => s - 2,
        }),
        "type" => Value::from(if size > 1 && net.ip == net.network() {
            "network"
        } else {
            "address"
        }),
        "version" => Value::from(if net.v6 { 6 } else { 4 }),
        "wrap" => {
            if !net.v6 {
                original
            } else if is_network {
                string(format!("[{}]/{}", net.ip_text(), net.prefix))
            } else {
                string(format!("[{}]", net.ip_text()))
            }
        }
        "6to4" => six_to_four(&net, is_network, original),
        _ => index_query(&net, is_network, query, &query_text, alias)?,
    })
}

fn six_to_four(net: &Net, is_network: bool, original: Value) -> Value {
    if !net.v6 {
        if net.size() > 1 && net.ip == net.network() {
            return no();
        }
        let octets = (net.ip as u32).to_be_bytes();
        return Value::from(format!(
            "2002:{:02x}{:02x}:{:02x}{:02x}::1/48",
            octets[0], octets[1], octets[2], octets[3]
        ));
    }
    let six_to_four_range = |ip: u128| ip >> 112 == 0x2002;
    if (!is_network && six_to_four_range(net.ip))
        || (is_network && net.ip != net.network() && six_to_four_range(net.ip))
    {
        original
    } else {
        no()
    }
}

/// A number as query picks the n-th address of the network (negative from the end).
fn index_query(
    net: &Net,
    is_network: bool,
    query: &Value,
    text: &str,
    alias: &str,
) -> Result<Value, Error> {
    let numeric = integer_of(query).or_else(|| text.trim().parse::<i64>().ok());
    if numeric.is_none() && text.trim().parse::<f64>().is_err() {
        return Err(failure(format!("{alias}: unknown filter type: {text}")));
    }
    let size = net.size();
    if size == 1 {
        return Ok(Value::from(if is_network {
            net.cidr_text()
        } else {
            net.ip_text()
        }));
    }
    let Some(index) = numeric else {
        return Ok(no());
    };
    let address = if index < 0 {
        let back = index.unsigned_abs() as u128;
        if back > size {
            return Ok(no());
        }
        net.last() + 1 - back
    } else {
        let forward = index as u128;
        if forward >= size {
            return Ok(no());
        }
        net.network() + forward
    };
    Ok(Value::from(format!("{}/{}", net.text(address), net.prefix)))
}

fn reverse_dns(net: &Net) -> String {
    if net.v6 {
        let nibbles: Vec<String> = format!("{:032x}", net.ip)
            .chars()
            .rev()
            .map(String::from)
            .collect();
        format!("{}.ip6.arpa.", nibbles.join("."))
    } else {
        let octets = (net.ip as u32).to_be_bytes();
        format!(
            "{}.{}.{}.{}.in-addr.arpa.",
            octets[3], octets[2], octets[1], octets[0]
        )
    }
}

/// `ipwrap`: IPv6 addresses in brackets, everything else unchanged.
pub(crate) fn ipwrap(value: &Value, query: &Value) -> Result<Value, Error> {
    let wrap = |item: &Value| -> Result<Value, Error> {
        let selected = ipaddr(item, query, None, "ipwrap").unwrap_or_else(|_| no());
        if selected.is_true() {
            ipaddr(&selected, &Value::from("wrap"), None, "ipwrap")
        } else {
            Ok(item.clone())
        }
    };
    if is_list(value) {
        let mut out = Vec::new();
        for item in value.try_iter()? {
            let selected = ipaddr(&item, query, None, "ipwrap").unwrap_or_else(|_| no());
            out.push(if selected.is_true() {
                ipaddr(&item, &Value::from("wrap"), None, "ipwrap")?
            } else {
                item
            });
        }
        return Ok(Value::from(out));
    }
    wrap(value)
}

/// `ipmath`: the address `amount` steps away.
pub(crate) fn ipmath(value: &Value, amount: &Value) -> Result<Value, Error> {
    let text = py_str(value);
    let net = if text.contains('/') {
        parse_network(&text)
    } else {
        parse_address(&text)
    }
    .ok_or_else(|| {
        failure(format!(
            "You must pass a valid IP address; {text} is invalid"
        ))
    })?;
    let amount = (amount.kind() == ValueKind::Number)
        .then(|| amount.as_i64())
        .flatten()
        .ok_or_else(|| {
            failure(format!(
                "You must pass an integer for arithmetic; {} is not a valid integer",
                py_str(amount)
            ))
        })?;
    let result = if amount < 0 {
        net.ip.checked_sub(amount.unsigned_abs() as u128)
    } else {
        net.ip.checked_add(amount as u128)
    };
    match result {
        Some(address) if address <= net.max() => Ok(Value::from(net.text(address))),
        _ => Err(failure(format!(
            "ipmath: {text} plus {amount} is outside the address space"
        ))),
    }
}

/// The network a value names, as `nthhost` and friends normalise it: an address becomes
/// its `/32` or `/128`, a network its subnet.
fn normalized(value: &Value) -> Option<Net> {
    let (net, _, _) = read_value(value, None)?;
    let kind = ipaddr(value, &Value::from("type"), None, "ipaddr").ok()?;
    Some(
        if kind.as_str() == Some("network") || net.size() > 1 && net.ip == net.network() {
            Net {
                ip: net.network(),
                ..net
            }
        } else {
            net
        },
    )
}

/// `nthhost`: the n-th address of a network.
pub(crate) fn nthhost(value: &Value, query: &Value) -> Value {
    let Some(net) = normalized(value).map(|n| Net {
        ip: n.network(),
        ..n
    }) else {
        return no();
    };
    let Some(nth) = integer_of(query).or_else(|| py_str(query).parse().ok()) else {
        return no();
    };
    if nth >= 0 && (nth as u128) < net.size() {
        Value::from(net.text(net.network() + nth as u128))
    } else if nth < 0 && nth.unsigned_abs() as u128 <= net.size() {
        Value::from(net.text(net.last() + 1 - nth.unsigned_abs() as u128))
    } else {
        no()
    }
}

/// `next_nth_usable` and `previous_nth_usable` (with a negative step).
pub(crate) fn nth_usable(value: &Value, offset: &Value, forward: bool) -> Result<Value, Error> {
    let Some(net) = normalized(value) else {
        return Ok(no());
    };
    let offset = integer_of(offset).ok_or_else(|| failure("Must pass in an integer"))?;
    let offset = if forward { offset } else { -offset };
    if net.size() <= 1 {
        return Ok(none());
    }
    let (first, last) = if net.size() == 2 {
        (net.network(), net.last())
    } else {
        (net.network() + 1, net.last() - 1)
    };
    let target = if offset < 0 {
        net.ip.checked_sub(offset.unsigned_abs() as u128)
    } else {
        net.ip.checked_add(offset as u128)
    };
    Ok(match target {
        Some(address) if address >= first && address <= last => Value::from(net.text(address)),
        _ => none(),
    })
}

/// `network_in_network` (whole range) and `network_in_usable` (usable hosts only).
pub(crate) fn network_in(value: &Value, test: &Value, usable_only: bool) -> Value {
    let (Some(outer), Some(inner)) = (normalized(value), normalized(test)) else {
        return no();
    };
    if outer.v6 != inner.v6 {
        return no();
    }
    let (first, last) = if usable_only && outer.size() > 2 {
        (outer.network() + 1, outer.last() - 1)
    } else {
        (outer.network(), outer.last())
    };
    let (inner_first, inner_last) = if inner.size() == 1 {
        (inner.ip, inner.ip)
    } else {
        (inner.network(), inner.last())
    };
    Value::from(inner_first >= first && inner_last <= last)
}

/// `ipsubnet(value, size, index)`: how many subnets of a size fit, or the n-th of them;
/// for an address, the supernet of that size containing it.
pub(crate) fn ipsubnet(
    value: &Value,
    query: &Value,
    index: Option<&Value>,
) -> Result<Value, Error> {
    let Some(net) = normalized(value) else {
        return Ok(no());
    };
    let is_network = net.size() > 1 && net.ip == net.network();
    let text = py_str(query);
    if query.is_none() || text.is_empty() {
        return Ok(Value::from(format!(
            "{}/{}",
            net.text(net.network()),
            net.prefix
        )));
    }
    let Ok(size) = text.parse::<u32>() else {
        return Err(failure(
            "ipsubnet: only a prefix length is supported as query",
        ));
    };
    if size > net.width() {
        return Ok(no());
    }
    let index = match index {
        Some(index) if !index.is_none() => {
            Some(integer_of(index).ok_or_else(|| failure("ipsubnet: index must be an integer"))?)
        }
        _ => None,
    };
    if !is_network {
        let supernet = Net {
            prefix: size,
            ..net
        };
        return Ok(match index {
            None | Some(0) => {
                Value::from(format!("{}/{}", supernet.text(supernet.network()), size))
            }
            Some(_) => no(),
        });
    }
    if size < net.prefix {
        return Err(failure(format!(
            "Requested subnet size of {size} is invalid"
        )));
    }
    let count = 1u128.checked_shl(size - net.prefix).unwrap_or(u128::MAX);
    let Some(index) = index else {
        return Ok(Value::from(count.to_string()));
    };
    let index = if index < 0 {
        count as i128 + i128::from(index)
    } else {
        i128::from(index)
    };
    if index < 0 || index as u128 >= count {
        return Ok(no());
    }
    let start = net.network() + ((index as u128) << (net.width() - size));
    Ok(Value::from(format!("{}/{}", net.text(start), size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(value: &str, query: &str) -> String {
        py_str(&ipaddr(&Value::from(value), &Value::from(query), None, "ipaddr").unwrap())
    }

    #[test]
    fn common_queries() {
        assert_eq!(ip("192.168.1.10/24", ""), "192.168.1.10/24");
        assert_eq!(ip("192.168.1.10", ""), "192.168.1.10");
        assert_eq!(ip("192.168.1.10/24", "address"), "192.168.1.10");
        assert_eq!(ip("192.168.1.10/24", "network"), "192.168.1.0");
        assert_eq!(ip("192.168.1.10/24", "netmask"), "255.255.255.0");
        assert_eq!(ip("192.168.1.10/24", "prefix"), "24");
        assert_eq!(ip("192.168.1.10/24", "broadcast"), "192.168.1.255");
        assert_eq!(ip("192.168.1.10/24", "host"), "192.168.1.10/24");
        assert_eq!(ip("192.168.1.0/24", "net"), "192.168.1.0/24");
        assert_eq!(ip("192.168.1.10/24", "net"), "None");
        assert_eq!(ip("192.168.1.10/24", "subnet"), "192.168.1.0/24");
        assert_eq!(ip("192.168.1.0/24", "10"), "192.168.1.10/24");
        assert_eq!(ip("192.168.1.0/24", "-1"), "192.168.1.255/24");
        assert_eq!(ip("10.0.0.0/255.0.0.0", "prefix"), "8");
        assert_eq!(ip("not an ip", ""), "False");
        assert_eq!(ip("192.168.1.5", "192.168.0.0/16"), "192.168.1.5");
        assert_eq!(ip("10.1.1.5", "192.168.0.0/16"), "None");
        assert_eq!(ip("10.0.0.0/0.255.255.255", "prefix"), "8");
        assert_eq!(ip("192.168.1.10", "private"), "192.168.1.10");
        assert_eq!(ip("8.8.8.8", "public"), "8.8.8.8");
        assert_eq!(ip("2001:db8::1/64", "network"), "2001:db8::");
        assert_eq!(ip("2001:db8::1", "wrap"), "[2001:db8::1]");
        assert_eq!(ip("192.168.1.1", "revdns"), "1.1.168.192.in-addr.arpa.");
        assert_eq!(ip("167772161", ""), "10.0.0.1");
    }

    #[test]
    fn lists_and_helpers() {
        let list = Value::from(vec!["192.168.1.1", "nope", "::1"]);
        let v4 = ipaddr(&list, &Value::from(""), Some(4), "ipv4").unwrap();
        assert_eq!(py_str(&v4), "['192.168.1.1']");
        assert_eq!(
            py_str(&ipmath(&Value::from("192.168.1.5"), &Value::from(-6)).unwrap()),
            "192.168.0.255"
        );
        assert_eq!(
            py_str(&ipwrap(&Value::from("::1"), &Value::from("")).unwrap()),
            "[::1]"
        );
        assert_eq!(
            py_str(&nthhost(&Value::from("10.0.0.0/8"), &Value::from(305))),
            "10.0.1.49"
        );
        assert_eq!(
            py_str(&nth_usable(&Value::from("192.168.122.1/24"), &Value::from(2), true).unwrap()),
            "192.168.122.3"
        );
        assert_eq!(
            py_str(&network_in(
                &Value::from("192.168.0.0/24"),
                &Value::from("192.168.0.255"),
                true
            )),
            "False"
        );
        assert_eq!(
            py_str(
                &ipsubnet(
                    &Value::from("192.168.0.0/16"),
                    &Value::from(20),
                    Some(&Value::from(2))
                )
                .unwrap()
            ),
            "192.168.32.0/20"
        );
    }
}
