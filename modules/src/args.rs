//! Turning a task's arguments into a module's typed struct.
//!
//! Arguments arrive as plain JSON data, already rendered. A failure names the path of the
//! offending value (`dest`, `lines[2]`) so the engine can point at it in the YAML.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a task's arguments do not fit its module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ArgError {
    /// Keys and indexes from the top of the arguments to the offending value.
    pub path: Vec<PathSegment>,
    /// Lowercase, with names in backticks.
    pub message: String,
    /// For an unknown field: the names the module accepts, for a "did you mean".
    pub expected: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

impl ArgError {
    pub fn new(message: impl Into<String>) -> Self {
        ArgError {
            path: Vec::new(),
            message: message.into(),
            expected: Vec::new(),
        }
    }

    pub fn at(mut self, key: &str) -> Self {
        self.path.insert(0, PathSegment::Key(key.to_string()));
        self
    }
}

/// A typed argument struct that can check itself beyond what serde checks (mutually
/// exclusive fields, required-one-of).
pub trait Args: DeserializeOwned {
    fn validate(&self) -> Result<(), ArgError> {
        Ok(())
    }
}

/// Deserialises `A` from JSON arguments, keeping the path of any error.
pub fn parse<A: Args>(value: Value) -> Result<A, ArgError> {
    let parsed: A = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(PathSegment::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(PathSegment::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let raw = error.inner().to_string();
        let expected = if raw.starts_with("unknown field") {
            expected_fields(&raw)
        } else {
            Vec::new()
        };
        ArgError {
            path,
            message: tidy_serde_message(&raw),
            expected,
        }
    })?;
    parsed.validate()?;
    Ok(parsed)
}

/// serde says "unknown field `vaule`, expected one of `name`, `value`"; we keep the first
/// half as the message and compute the suggestion ourselves.
fn tidy_serde_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        if let Some((field, _)) = rest.split_once(", expected") {
            return format!("unknown field {field}");
        }
    }
    message.to_string()
}

/// The serde message for an unknown field lists the expected names; pull them out so the
/// engine can suggest the closest one.
fn expected_fields(serde_message: &str) -> Vec<String> {
    let Some((_, expected)) = serde_message.split_once("expected one of ") else {
        return serde_message
            .split_once("expected `")
            .map(|(_, rest)| vec![rest.trim_end_matches('`').to_string()])
            .unwrap_or_default();
    };
    expected
        .split(", ")
        .map(|name| name.trim_matches('`').to_string())
        .collect()
}

/// Ansible accepts `yes`/`no`/`true`/`1` and friends wherever a module wants a boolean.
pub mod ansible_bool {
    use serde::{de, Deserialize, Deserializer};
    use serde_json::Value;

    pub fn from_value(value: &Value) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => n.as_f64().map(|f| f != 0.0),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" | "on" | "1" | "true" | "y" | "t" | "1.0" => Some(true),
                "no" | "off" | "0" | "false" | "n" | "f" | "0.0" | "" => Some(false),
                _ => None,
            },
            Value::Null => Some(false),
            _ => None,
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        let value = Value::deserialize(deserializer)?;
        from_value(&value).ok_or_else(|| {
            de::Error::custom(format!("`{value}` is not a boolean (use true or false)"))
        })
    }

    /// For `Option<bool>` fields.
    pub mod option {
        use serde::{Deserialize, Deserializer};
        use serde_json::Value;

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<bool>, D::Error> {
            let value = Option::<Value>::deserialize(deserializer)?;
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(value) => super::from_value(&value).map(Some).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{value}` is not a boolean (use true or false)"
                    ))
                }),
            }
        }
    }
}

/// Ansible modes: `0644` (string), `644`, `"u=rw,g=r,o=r"`, or an int that YAML 1.1
/// already read as octal.
pub mod file_mode {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// A mode as written in a task: an octal number or a symbolic mode that needs the
    /// file's current mode to resolve.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Mode {
        Octal(u32),
        Symbolic(String),
        /// `preserve` (copy/template): keep the source's mode.
        Preserve,
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Mode>, D::Error> {
        let value = Option::<Value>::deserialize(deserializer)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                // A number is the mode itself, as in Ansible: YAML read `0644` as octal
                // already; a bare `644` means decimal 644, which is almost never meant,
                // but it is what Ansible does.
                let n = n
                    .as_u64()
                    .filter(|n| *n <= 0o7777)
                    .ok_or_else(|| serde::de::Error::custom("mode must be between 0 and 0o7777"))?;
                Ok(Some(Mode::Octal(n as u32)))
            }
            Some(Value::String(s)) => parse(&s).map(Some).map_err(serde::de::Error::custom),
            Some(other) => Err(serde::de::Error::custom(format!(
                "`{other}` is not a file mode"
            ))),
        }
    }

    pub fn parse(s: &str) -> Result<Mode, String> {
        let s = s.trim();
        if s == "preserve" {
            return Ok(Mode::Preserve);
        }
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return u32::from_str_radix(s.trim_start_matches("0o"), 8)
                .map(Mode::Octal)
                .map_err(|_| format!("`{s}` is not an octal mode"));
        }
        if let Some(octal) = s.strip_prefix("0o") {
            return u32::from_str_radix(octal, 8)
                .map(Mode::Octal)
                .map_err(|_| format!("`{s}` is not an octal mode"));
        }
        if s.chars().all(|c| "ugoa+-=rwxXst,".contains(c)) {
            return Ok(Mode::Symbolic(s.to_string()));
        }
        Err(format!(
            "`{s}` is not a file mode (write it as \"0644\" or \"u=rw,g=r,o=r\")"
        ))
    }

    /// Applies a mode to a file's current permission bits.
    pub fn resolve(mode: &Mode, current: u32, is_dir: bool) -> Result<u32, String> {
        match mode {
            Mode::Octal(m) => Ok(*m),
            Mode::Preserve => Ok(current),
            Mode::Symbolic(spec) => apply_symbolic(spec, current, is_dir),
        }
    }

    fn apply_symbolic(spec: &str, current: u32, is_dir: bool) -> Result<u32, String> {
        let mut mode = current & 0o7777;
        for clause in spec.split(',') {
            let op_at = clause
                .find(['+', '-', '='])
                .ok_or_else(|| format!("`{clause}` has no operator (+, - or =)"))?;
            let (who, rest) = clause.split_at(op_at);
            let op = rest.chars().next().unwrap_or('=');
            let perms = &rest[1..];
            let who_mask: u32 = if who.is_empty() || who.contains('a') {
                0o7777
            } else {
                let mut mask = 0;
                for c in who.chars() {
                    mask |= match c {
                        'u' => 0o4700,
                        'g' => 0o2070,
                        'o' => 0o1007,
                        _ => return Err(format!("`{c}` is not u, g, o or a")),
                    };
                }
                mask
            };
            let mut bits = 0u32;
            for c in perms.chars() {
                bits |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || current & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return Err(format!("`{c}` is not a permission")),
                };
            }
            let bits = bits & who_mask;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                _ => (mode & !(who_mask & 0o7777)) | bits,
            };
        }
        Ok(mode)
    }
}

/// A value that Ansible accepts either as a list or as a comma-separated string.
pub mod list_or_csv {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match value {
            Value::Null => Vec::new(),
            Value::String(s) => s
                .split(',')
                .map(|part| part.trim().to_string())
                .filter(|part| !part.is_empty())
                .collect(),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            other => vec![other.to_string()],
        })
    }
}

/// `state: present` or `absent`, for the modules whose state is no more than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    #[default]
    Present,
    Absent,
}

impl Presence {
    pub fn name(self) -> &'static str {
        match self {
            Presence::Present => "present",
            Presence::Absent => "absent",
        }
    }
}
