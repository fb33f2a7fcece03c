//! Prefixed random identifiers (`pay_…`, `contact_…`, `evt_…`): readable in logs, unguessable, and
//! shaped like the ones in the API documents (a prefix and 26 lower-case base-36 characters).

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const LEN: usize = 26;

/// A new id with the given prefix, e.g. `new_id("pay")` → `pay_9fmz6170pzaih14pmyl0a49o1l` (~134 bits).
pub fn new_id(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + LEN);
    out.push_str(prefix);
    out.push('_');
    out.extend(random_chars(LEN, ALPHABET));
    out
}

/// Whether `id` could be an id Cowry made with `prefix` (so malformed ids are refused before any query).
pub fn looks_like(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| ALPHABET.contains(&b))
        })
}

/// `count` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_chars(count: usize, alphabet: &[u8]) -> impl Iterator<Item = char> + '_ {
    let limit = 256 - (256 % alphabet.len());
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).expect("the operating system's random source failed");
        chosen.extend(
            buf.iter()
                .filter(|&&b| (b as usize) < limit)
                .map(|&b| alphabet[b as usize % alphabet.len()] as char)
                .take(count - chosen.len()),
        );
    }
    chosen.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_shape() {
        let id = new_id("pay");
        assert!(id.starts_with("pay_"));
        assert_eq!(id.len(), 4 + LEN);
        assert!(id[4..].bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(new_id("pay"), new_id("pay"));
        assert!(looks_like(&id, "pay"));
        assert!(!looks_like(&id, "evt"));
        assert!(!looks_like("pay_", "pay"));
        assert!(!looks_like("pay_ABC", "pay"));
        assert!(!looks_like("pay_a\u{0}b", "pay"));
    }
}
