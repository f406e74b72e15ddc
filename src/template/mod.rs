//! Templates: minijinja with Ansible's filters, tests, lookups and lazy variables.

/// Whether a string holds Jinja syntax and so must be rendered before use.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}
