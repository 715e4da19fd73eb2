//! Ignite's `ssh` setting → cloud-init: the public keys to install (a
//! generated key or a key path cannot be carried over, a private key is
//! refused without being quoted), and the `meta-data` and `user-data`
//! documents [`super::ignite_vm`] puts in the `MicroVM`'s metadata.

use base64::Engine;
use serde_json::Value;

use super::Findings;
use crate::kinds::ignite::Ssh;

/// Whether `line` reads as an OpenSSH public key (`type base64 [comment]`).
fn is_public_key(line: &str) -> bool {
    let mut fields = line.split_whitespace();
    let kind = fields.next().unwrap_or_default();
    let known = ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-"]
        .iter()
        .any(|p| kind.starts_with(p));
    known && fields.next().is_some()
}

pub(super) fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// cloud-init `meta-data` naming the instance after the VM. `instance-id`
/// and `local-hostname` are what cloud-init reads; `instance_id` is what
/// flintlockd looks for, and when it is missing the server adds one and
/// rewrites the document, which would show as drift on every plan.
pub fn meta_data(name: &str) -> String {
    let name = quoted(name);
    format!("instance-id: {name}\ninstance_id: {name}\nlocal-hostname: {name}\n")
}

/// cloud-init `user-data` installing `keys`. Ignite put the key in root's
/// `authorized_keys`; `disable_root: false` keeps root login working, and
/// cloud-init also gives the keys to the image's default user.
pub fn user_data(keys: &[&str]) -> String {
    let mut out = String::from("#cloud-config\ndisable_root: false\nssh_authorized_keys:\n");
    for k in keys {
        out.push_str("  - ");
        out.push_str(&quoted(k));
        out.push('\n');
    }
    out
}

/// Whether `text` holds a private key (never quoted in a message).
fn is_private_key(text: &str) -> bool {
    text.contains("PRIVATE KEY")
}

/// The public keys to install, warning when Ignite's SSH setup cannot be
/// carried over and refusing private keys.
pub(super) fn ssh_keys(out: &mut Findings<'_>, ssh: Option<&Ssh>) -> Vec<String> {
    let Some(ssh) = ssh else {
        return Vec::new();
    };
    let pointer = match ssh {
        Ssh::Mapping(_) => "/spec/ssh/publicKey",
        _ => "/spec/ssh",
    };
    let value = match ssh.wanted() {
        None => return Vec::new(),
        Some(None) => {
            out.warning(
                "/spec/ssh",
                "Ignite generates a key pair on its host for this `ssh` setting; Flintlock \
                 cannot, so no SSH key is installed. Put a public key (ssh-ed25519 AAAA…) in \
                 spec.ssh instead",
            );
            return Vec::new();
        }
        Some(Some(v)) => v.trim(),
    };
    if is_private_key(value) {
        out.error(
            pointer,
            "holds a private key (its value is not shown). A private key must never be in a \
             manifest: remove it from the file and from Git history, rotate it, and write the \
             public key (ssh-ed25519 AAAA… user@host) here instead",
        );
        return Vec::new();
    }
    let lines: Vec<&str> = value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.iter().all(|l| is_public_key(l)) {
        return lines.into_iter().map(str::to_string).collect();
    }
    if !value.ends_with(".pub") {
        out.error(
            pointer,
            format!(
                "\"{value}\" looks like the path of a private key (Ignite wants a public key, \
                 a .pub file). mooring never reads or sends private keys: write the public key \
                 itself here (ssh-ed25519 AAAA… user@host)"
            ),
        );
        return Vec::new();
    }
    out.warning(
        pointer,
        format!(
            "\"{value}\" is a path on the Ignite host (Ignite copies that file into the VM), \
             which mooring cannot read; no SSH key is installed. Write the public key itself \
             here (ssh-ed25519 AAAA… user@host) and mooring passes it to cloud-init"
        ),
    );
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_are_told_from_paths() {
        assert!(is_public_key("ssh-ed25519 AAAAC3Nza me@host"));
        assert!(is_public_key("ecdsa-sha2-nistp256 AAAAE2V"));
        assert!(is_public_key("sk-ssh-ed25519@openssh.com AAAA"));
        assert!(!is_public_key("/home/me/.ssh/id_ed25519.pub"));
        assert!(!is_public_key("ssh-ed25519"));
    }
}
