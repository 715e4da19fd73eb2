//! Custom JSON Schema `format`s and named `pattern`s used by mooring's kind
//! schemas.
//!
//! The validator registers every [`Format`] with its JSON Schema engine, and
//! uses [`patterns`] to turn a failed `pattern` keyword into a readable
//! message instead of printing the raw regular expression.
//!
//! It imports no kind module: kinds take their formats and patterns from
//! here (Ignite's size pattern included), never the other way round.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// A custom string format: its name as written in a schema's `format`, the
/// check, and what a valid value looks like (for messages).
pub struct Format {
    pub name: &'static str,
    pub check: fn(&str) -> bool,
    pub expected: &'static str,
}

/// A regular expression used in a schema `pattern`, with the human
/// explanation to print when a value does not match.
pub struct NamedPattern {
    pub pattern: String,
    pub expected: &'static str,
}

/// The format name for container image references.
pub const IMAGE_REFERENCE: &str = "image-reference";
/// The format name for MAC addresses.
pub const MAC: &str = "mac";
/// The format name for IP networks in CIDR notation.
pub const CIDR: &str = "cidr";
/// The format name for IPv4 or IPv6 addresses.
pub const IP: &str = "ip";
/// Kubernetes' `format: byte`: base64 with padding, as the API server
/// decodes `Secret.data` and `ConfigMap.binaryData`.
pub const BYTE: &str = "byte";

static FORMATS: [Format; 5] = [
    Format {
        name: IMAGE_REFERENCE,
        check: is_image_reference,
        expected: "a container image reference such as ghcr.io/org/kernel:6.1 \
                   (lowercase repository path, optional registry host, :tag and @digest)",
    },
    Format {
        name: MAC,
        check: is_mac,
        expected: "a MAC address such as 02:00:5e:10:00:01",
    },
    Format {
        name: CIDR,
        check: is_cidr,
        expected: "an IP address with a prefix length, such as 192.168.1.10/24 or fd00::10/64",
    },
    Format {
        name: IP,
        check: is_ip,
        expected: "an IPv4 or IPv6 address such as 192.168.1.1 or fd00::1",
    },
    Format {
        name: BYTE,
        check: is_base64,
        expected: "base64 (standard alphabet, padded with '='); write plain text under \
                   `stringData` (Secret) or `data` (ConfigMap) instead",
    },
];

/// Every custom format the kind schemas use.
pub fn formats() -> &'static [Format] {
    &FORMATS
}

/// The explanation for a format name, if it is one of ours.
pub fn format_expected(name: &str) -> Option<&'static str> {
    FORMATS.iter().find(|f| f.name == name).map(|f| f.expected)
}

/// DNS-1123 subdomain: what Kubernetes requires of most object names.
pub const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// DNS-1123 label: what Kubernetes requires of namespace names.
pub const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A Flintlock guest network device id.
pub const DEVICE_ID: &str = r"^[a-z][a-z0-9_]*$";
/// A Kubernetes resource quantity written as a string.
pub const QUANTITY: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// A wasmCloud `allowedHosts` entry, as runtime-operator v2.7's CRD writes it:
/// `*`, or a host with an optional `*.` prefix, port and scheme, and no path.
pub const WASMCLOUD_ALLOWED_HOST: &str = r"^\*$|^([A-Za-z][A-Za-z0-9+.-]*://)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?/?$|^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?$";
/// A wasmCloud `allowedIpNameLookups` entry: `*`, a host name with an
/// optional `*.` prefix, or an IP address.
pub const WASMCLOUD_IP_NAME_LOOKUP: &str = r"^\*$|^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9A-Fa-f:.]+$";
/// A wasmCloud `allowedHostLoopbackPorts` entry: a port with an optional
/// `/tcp` or `/udp`.
pub const WASMCLOUD_LOOPBACK_PORT: &str = r"^[0-9]{1,5}(/(tcp|udp|TCP|UDP))?$";
/// A wasmCloud host interface name.
pub const WASMCLOUD_INTERFACE_NAME: &str = r"^[a-z0-9][a-z0-9-]*$";

static PATTERNS: LazyLock<Vec<NamedPattern>> = LazyLock::new(|| {
    vec![
        NamedPattern {
            pattern: WASMCLOUD_ALLOWED_HOST.to_string(),
            expected: "an allowed host: `*`, or a host name with an optional `*.` prefix, \
                       `scheme://` and `:port`, such as api.example.com:443 or \
                       https://*.example.com; no path",
        },
        NamedPattern {
            pattern: WASMCLOUD_IP_NAME_LOOKUP.to_string(),
            expected: "`*`, a host name with an optional `*.` prefix, or an IP address",
        },
        NamedPattern {
            pattern: WASMCLOUD_LOOPBACK_PORT.to_string(),
            expected: "a port number with an optional /tcp or /udp, such as 8080 or 53/udp",
        },
        NamedPattern {
            pattern: WASMCLOUD_INTERFACE_NAME.to_string(),
            expected: "a name of lowercase letters, digits and '-', starting with a letter \
                       or digit",
        },
        NamedPattern {
            pattern: ignite_size_pattern().to_string(),
            expected: "a valid Ignite size: a string holding a whole number and an optional unit \
                       (B, KB, MB, GB, TB, PB, EB, any case, all powers of 1024), such as \
                       \"512MB\"; KiB, MiB, GiB and Kubernetes' Mi, Gi are not Ignite units \
                       (its units are already binary: write 1GB for 1 GiB), and fractions, \
                       leading spaces and bit units like Mb are not accepted",
        },
        NamedPattern {
            pattern: QUANTITY.to_string(),
            expected: "a Kubernetes quantity such as 10Gi, 500M, 250m or 1.5",
        },
        NamedPattern {
            pattern: DNS1123_SUBDOMAIN.to_string(),
            expected: "a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', \
                       starting and ending with a letter or digit",
        },
        NamedPattern {
            pattern: DNS1123_LABEL.to_string(),
            expected: "a DNS-1123 label: lowercase letters, digits and '-', \
                       starting and ending with a letter or digit, at most 63 characters",
        },
        NamedPattern {
            pattern: DEVICE_ID.to_string(),
            expected: "a valid device id: a lowercase letter followed by lowercase letters, \
                       digits or '_', such as eth0",
        },
    ]
});

/// The patterns whose regular expression would make an unreadable message.
pub fn patterns() -> &'static [NamedPattern] {
    &PATTERNS
}

/// The explanation for a schema pattern, if it is one of ours.
pub fn pattern_expected(pattern: &str) -> Option<&'static str> {
    PATTERNS
        .iter()
        .find(|p| p.pattern == pattern)
        .map(|p| p.expected)
}

// ---------------------------------------------------------------------------
// Ignite sizes

/// Ignite's size unit prefixes by power of 1024, with their spelled-out
/// word. `kinds::ignite`'s size parser reads the same table.
pub(crate) const IGNITE_SIZE_PREFIXES: [(char, &str); 6] = [
    ('k', "kilo"),
    ('m', "mega"),
    ('g', "giga"),
    ('t', "tera"),
    ('p', "peta"),
    ('e', "exa"),
];

/// `[xX]` for a letter, the character itself otherwise.
fn any_case(c: char) -> String {
    if c.is_ascii_alphabetic() {
        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
    } else {
        c.to_string()
    }
}

fn any_case_word(w: &str) -> String {
    w.chars().map(any_case).collect()
}

static SIZE_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let mut alternatives = vec![any_case_word("byte"), any_case_word("b")];
    for (p, word) in IGNITE_SIZE_PREFIXES {
        let lower = p.to_string();
        let upper = p.to_ascii_uppercase().to_string();
        alternatives.push(any_case_word(&format!("{word}bytes")));
        alternatives.push(any_case_word(&format!("{word}byte")));
        alternatives.push(any_case_word(word));
        // Two-letter form: any case except capital prefix + lowercase b,
        // which Ignite reads as bits.
        alternatives.push(format!("{lower}[bB]|{upper}B"));
        alternatives.push(any_case(p));
    }
    format!(r"^(?:[0-9]+\s*(?:{})?\s*)?$", alternatives.join("|"))
});

/// The JSON Schema pattern (ECMA-262, no flags) of an Ignite size string.
/// The parser that says *why* a size is wrong is `kinds::ignite`'s.
pub fn ignite_size_pattern() -> &'static str {
    &SIZE_PATTERN
}

// ---------------------------------------------------------------------------
// image-reference

/// The longest repository name (registry host plus path) a reference may have.
const NAME_MAX: usize = 255;

/// Whether `s` is a container image reference: `[host[:port]/]path[:tag][@digest]`
/// with a lowercase path.
pub fn is_image_reference(s: &str) -> bool {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    if let Some(d) = digest
        && !is_digest(d)
    {
        return false;
    }
    // A tag follows the last ':' only when no '/' comes after it; otherwise
    // the ':' belongs to the registry port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag
        && !is_tag(t)
    {
        return false;
    }
    if name.is_empty() || name.len() > NAME_MAX {
        return false;
    }
    if is_path(name) {
        return true;
    }
    match name.split_once('/') {
        Some((domain, path)) => is_domain(domain) && is_path(path),
        None => false,
    }
}

fn is_tag(t: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = t.chars();
    match chars.next() {
        Some(c) if word(c) => {}
        _ => return false,
    }
    t.len() <= 128 && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn is_digest(d: &str) -> bool {
    let Some((algo, hex)) = d.split_once(':') else {
        return false;
    };
    let algo_ok = algo.split(['+', '.', '-', '_']).all(|comp| {
        let mut cs = comp.chars();
        matches!(cs.next(), Some(c) if c.is_ascii_alphabetic())
            && cs.all(|c| c.is_ascii_alphanumeric())
    });
    algo_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_path(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(is_path_component)
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit()))
    {
        return false;
    }
    if d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|comp| {
            let b = comp.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

// ---------------------------------------------------------------------------
// mac

/// Whether `s` is a MAC address in one of the forms Go's `net.ParseMAC`
/// accepts: 6, 8 or 20 two-digit hex octets separated by `:` or `-`, or
/// the same number of octets as dot-separated groups of four hex digits.
/// Standard base64 with padding, as the API server decodes a `byte`
/// field (Go's `base64.StdEncoding`, which skips line breaks).
pub fn is_base64(s: &str) -> bool {
    use base64::Engine;
    let joined: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .is_ok()
}

pub fn is_mac(s: &str) -> bool {
    let octets_ok = |n: usize| matches!(n, 6 | 8 | 20);
    let hex = |g: &str, len: usize| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit());
    if s.contains('.') {
        let groups: Vec<&str> = s.split('.').collect();
        return octets_ok(groups.len() * 2) && groups.iter().all(|g| hex(g, 4));
    }
    for sep in [':', '-'] {
        if s.contains(sep) {
            let groups: Vec<&str> = s.split(sep).collect();
            return octets_ok(groups.len()) && groups.iter().all(|g| hex(g, 2));
        }
    }
    false
}

// ---------------------------------------------------------------------------
// ip, cidr

/// Whether `s` is an IPv4 or IPv6 address.
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Whether `s` is `address/prefix` with the prefix in range for the address
/// family (0–32 for IPv4, 0–128 for IPv6).
pub fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    if addr.parse::<Ipv4Addr>().is_ok() {
        prefix <= 32
    } else if addr.parse::<Ipv6Addr>().is_ok() {
        prefix <= 128
    } else {
        false
    }
}
