//! The scopes an OAuth App is created with, as the sandbox reads them: written from
//! `shared/SEGMENT-API.md` (§2, §6), apart from the Segment client's own `SegmentScope`. The
//! two are not shared on purpose: if they ever disagree on what a scope means, the tests that
//! run the client against the sandbox fail, instead of both being wrong together.
//!
//! Not for: anything the partner app decides (the app has its own type in `segment/`).

use std::fmt;

/// `destination/<slug>`, `workspace:read` or `workspace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One destination (by catalog slug), on the one source the user picks at consent.
    Destination(String),
    /// Every setting of the workspace, read only.
    WorkspaceRead,
    /// Every setting of the workspace.
    Workspace,
}

impl Scope {
    /// The scope written as Segment writes it; anything else is refused (Segment answers
    /// `invalid_scope`).
    pub fn parse(value: &str) -> Result<Scope, String> {
        match value {
            "workspace" => Ok(Scope::Workspace),
            "workspace:read" => Ok(Scope::WorkspaceRead),
            other => match other.strip_prefix("destination/") {
                // Catalog slugs: lowercase letters, digits and hyphens (`google-analytics`).
                Some(slug)
                    if !slug.is_empty()
                        && slug
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
                {
                    Ok(Scope::Destination(slug.to_owned()))
                }
                _ => Err(format!(
                    "{value:?} is not a scope: expected destination/<slug>, workspace:read or \
                     workspace"
                )),
            },
        }
    }

    /// Whether the consent screen asks for a source, and the install is bound to it.
    pub fn names_a_source(&self) -> bool {
        matches!(self, Scope::Destination(_))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Destination(slug) => write!(f, "destination/{slug}"),
            Scope::WorkspaceRead => f.write_str("workspace:read"),
            Scope::Workspace => f.write_str("workspace"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse_and_print_back() {
        for text in [
            "destination/clearbrain",
            "destination/google-analytics",
            "workspace:read",
            "workspace",
        ] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
        assert!(
            Scope::parse("destination/clearbrain")
                .unwrap()
                .names_a_source()
        );
        assert!(!Scope::parse("workspace").unwrap().names_a_source());
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "destination/",
            "destinations/clearbrain",
            "destination/Clear Brain",
            "workspace:write",
            "admin",
        ] {
            assert!(Scope::parse(text).is_err(), "{text:?} was taken");
        }
    }
}
