//! Host names as Ansible reads them: `name:port`, `[ipv6]:port`, and `[begin:end:step]`
//! ranges such as `web[01:10].example.com` or `db-[a:c]`.
//!
//! The rules follow `ansible.parsing.utils.addresses.parse_address` and the inventory
//! plugins' `expand_hostname_range`, quirks included: a host written more than once keeps
//! the port of its first appearance, a range with a leading zero pads every name, and a
//! pattern that is not a valid host name is kept verbatim (port and all).

use regex::Regex;
use std::sync::LazyLock;

/// Most host names one host pattern may produce, its ranges multiplied, so a typo like
/// `[1:100000000]` fails quickly. A million (the first bound) let fuzzed inventories of
/// seven small ranges in one name (`b[6:8]…b[0:8]…`) spend seconds making 900 000 hosts;
/// a hundred thousand is still far beyond any real fleet in one line.
const MAX_EXPANDED_HOSTS: usize = 100_000;

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEXADECIMAL_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALPHANUMERIC_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

static BRACKETED_HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("valid regex"));

static HOSTPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("valid regex"));

static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let component = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    Regex::new(&format!(r"(?i)^(?:{component}\.){{3}}{component}$")).expect("valid regex")
});

static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEXADECIMAL_RANGE})");
    let alternatives = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    Regex::new(&format!("(?i)^(?:{})$", alternatives.join("|"))).expect("valid regex")
});

/// One DNS label, possibly with ranges. Python's version ends with a look-behind that
/// refuses a trailing `_` or `-`; that check is done by hand in [`is_hostname`].
static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    let range = format!("(?i:{ALPHANUMERIC_RANGE})");
    Regex::new(&format!(r"^(?:\w|{range})(?:[\w\-]|{range})*$")).expect("valid regex")
});

/// Splits `host:port`, `[host]:port` or plain `host`, and checks that what is left is an
/// IPv4 address, an IPv6 address or a host name. `None` when it is none of them.
pub fn parse_address(address: &str, allow_ranges: bool) -> Option<(String, Option<u64>)> {
    let mut host = address.to_string();
    let mut port = None;
    for pattern in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(captures) = pattern.captures(&host) {
            port = Some(captures[2].parse::<u64>().ok()?);
            host = captures[1].to_string();
        }
    }
    if !(IPV4.is_match(&host) || IPV6.is_match(&host) || is_hostname(&host)) {
        return None;
    }
    if !allow_ranges && host.contains('[') {
        return None;
    }
    Some((host, port))
}

fn is_hostname(text: &str) -> bool {
    text.split('.')
        .all(|label| LABEL.is_match(label) && !label.ends_with(['_', '-']))
}

/// Whether a name is an IP address, whose short name is the whole address.
pub fn is_ip_address(name: &str) -> bool {
    IPV4.is_match(name) || IPV6.is_match(name)
}

/// `inventory_hostname_short`: the name up to the first dot, unless it is an IP address.
pub fn inventory_hostname_short(name: &str) -> String {
    if is_ip_address(name) {
        name.to_string()
    } else {
        name.split('.').next().unwrap_or_default().to_string()
    }
}

/// The names and port of one host pattern as an inventory file writes it.
pub(super) fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u64>), String> {
    let (name, port) = match parse_address(pattern, true) {
        Some((name, port)) => (name, port),
        None => (pattern.to_string(), None),
    };
    let names = if name.contains('[') {
        let mut names = Vec::new();
        expand_range(&name, &mut names)?;
        names
    } else {
        vec![name]
    };
    Ok((names, port))
}

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Expands the first `[begin:end(:step)]` of `line`, then the rest recursively.
fn expand_range(line: &str, names: &mut Vec<String>) -> Result<(), String> {
    // Python replaces the first `[` and the first `]` by `|` and splits on `|`; anything
    // but exactly three parts is an error.
    let replaced = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = replaced.split('|').collect();
    let [head, range, tail] = parts[..] else {
        return Err(format!("invalid host range in `{line}`"));
    };
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range `[{range}]` must be `begin:end` or `begin:end:step`"
        ));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err(format!("host range `[{range}]` must specify an end value"));
    }
    let width = if begin.starts_with('0') && begin.chars().count() > 1 {
        let width = begin.chars().count();
        if width != end.chars().count() {
            return Err(format!(
                "host range `[{range}]` must have begin and end of equal length"
            ));
        }
        Some(width)
    } else {
        None
    };
    let fill = |text: String| match width {
        Some(width) => zfill(&text, width),
        None => text,
    };

    let mut sequence = Vec::new();
    match letter_range(begin, end, step)? {
        Some(letters) => sequence.extend(letters.into_iter().map(String::from)),
        None => {
            let not_a_number =
                || format!("host range `[{range}]` has a bound that is not a number");
            let first = python_int(begin).ok_or_else(not_a_number)?;
            let last = python_int(end).ok_or_else(not_a_number)?;
            let step = python_int(step).ok_or_else(not_a_number)?;
            if step == 0 {
                return Err(format!("host range `[{range}]` must not have a step of 0"));
            }
            let mut value = first;
            let stop = last + 1;
            while (step > 0 && value < stop) || (step < 0 && value > stop) {
                sequence.push(value.to_string());
                if names.len() + sequence.len() > MAX_EXPANDED_HOSTS {
                    return Err(format!(
                        "host range `[{range}]` expands to more than {MAX_EXPANDED_HOSTS} hosts"
                    ));
                }
                value += step;
            }
        }
    }
    for item in sequence {
        let name = format!("{head}{}{tail}", fill(item));
        if name.contains('[') {
            expand_range(&name, names)?;
        } else {
            names.push(name);
        }
        if names.len() > MAX_EXPANDED_HOSTS {
            return Err(format!(
                "host range in `{line}` expands to more than {MAX_EXPANDED_HOSTS} hosts"
            ));
        }
    }
    Ok(())
}

/// `string.ascii_letters[begin:end + 1:step]` when both bounds are found in the letters
/// (Python looks them up with `str.index`, so a bound may be several letters long).
fn letter_range(begin: &str, end: &str, step: &str) -> Result<Option<Vec<char>>, String> {
    let (Some(first), Some(last)) = (ASCII_LETTERS.find(begin), ASCII_LETTERS.find(end)) else {
        return Ok(None);
    };
    if first > last {
        return Err(format!(
            "host range `[{begin}:{end}]` must have begin <= end"
        ));
    }
    let Some(step) = python_int(step).filter(|step| *step != 0) else {
        return Ok(None);
    };
    if step < 0 {
        return Ok(Some(Vec::new()));
    }
    let letters: Vec<char> = ASCII_LETTERS.chars().collect();
    Ok(Some(
        letters[first..=last]
            .iter()
            .step_by(step as usize)
            .copied()
            .collect(),
    ))
}

/// Python's `int(text)`: surrounding whitespace, a sign, digits with single underscores.
pub(super) fn python_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let value: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -value } else { value })
}

/// Python's `str.zfill`: zeros after the sign up to `width` characters.
fn zfill(text: &str, width: usize) -> String {
    let length = text.chars().count();
    if length >= width {
        return text.to_string();
    }
    let zeros = "0".repeat(width - length);
    match text.strip_prefix(['-', '+']) {
        Some(rest) => format!("{}{zeros}{rest}", &text[..1]),
        None => format!("{zeros}{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str) -> (Vec<String>, Option<u64>) {
        expand_host_pattern(pattern).unwrap()
    }

    #[test]
    fn parses_ports_the_way_ansible_does() {
        assert_eq!(
            parse_address("web1:2222", true),
            Some(("web1".into(), Some(2222)))
        );
        assert_eq!(
            parse_address("[::1]:2222", true),
            Some(("::1".into(), Some(2222)))
        );
        assert_eq!(
            parse_address("fe80::1", true),
            Some(("fe80::1".into(), None))
        );
        assert_eq!(
            parse_address("10.0.0.1:22", true),
            Some(("10.0.0.1".into(), Some(22)))
        );
        assert_eq!(
            parse_address("web[1:3]:22", true),
            Some(("web[1:3]".into(), Some(22)))
        );
        assert_eq!(parse_address("web[1:3]", false), None);
        assert_eq!(parse_address("a:b", true), None);
        assert_eq!(parse_address("host_:22", true), None);
        assert_eq!(parse_address("-host", true), None);
    }

    #[test]
    fn expands_numeric_alphabetic_and_stepped_ranges() {
        assert_eq!(expand("web[01:03]").0, ["web01", "web02", "web03"]);
        assert_eq!(
            expand("web[1:10:4].lan").0,
            ["web1.lan", "web5.lan", "web9.lan"]
        );
        assert_eq!(expand("db-[a:c]").0, ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("x[y:B]").0, ["xy", "xz", "xA", "xB"]);
        assert_eq!(expand("r[1:2]n[a:b]").0, ["r1na", "r1nb", "r2na", "r2nb"]);
        assert_eq!(expand("h[:2]").0, ["h0", "h1", "h2"]);
        assert_eq!(expand("h[5:1]").0, Vec::<String>::new());
        assert_eq!(
            expand("web[01:02]:2222"),
            (vec!["web01".into(), "web02".into()], Some(2222))
        );
        assert_eq!(expand("10.0.0.[1:2]").0, ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn keeps_invalid_names_verbatim_with_their_port() {
        assert_eq!(expand("host_:22"), (vec!["host_:22".into()], None));
    }

    #[test]
    fn refuses_malformed_ranges() {
        assert_eq!(
            expand_host_pattern("web[01:3]").unwrap_err(),
            "host range `[01:3]` must have begin and end of equal length"
        );
        assert_eq!(
            expand_host_pattern("web[1:]").unwrap_err(),
            "host range `[1:]` must specify an end value"
        );
        assert_eq!(
            expand_host_pattern("web[c:a]").unwrap_err(),
            "host range `[c:a]` must have begin <= end"
        );
        assert_eq!(
            expand_host_pattern("web[1:2:3:4]").unwrap_err(),
            "host range `[1:2:3:4]` must be `begin:end` or `begin:end:step`"
        );
        assert_eq!(
            expand_host_pattern("web[1:x]").unwrap_err(),
            "host range `[1:x]` has a bound that is not a number"
        );
    }

    #[test]
    fn short_names_keep_ip_addresses_whole() {
        assert_eq!(inventory_hostname_short("web1.example.com"), "web1");
        assert_eq!(inventory_hostname_short("10.0.0.1"), "10.0.0.1");
        assert_eq!(inventory_hostname_short("fe80::1"), "fe80::1");
    }
}
