//! Python literals as `ast.literal_eval` reads them, which is how INI inventories type
//! their values: `port=22` is an integer, `debug=True` a boolean, `names="['a', 'b']"` a
//! list, `version=1.20` the float `1.2`, `mode=0755` the string `"0755"` (Python refuses
//! leading zeros), and anything Python cannot read as a literal stays a string.
//!
//! Only the outcome matters here, so every failure (a syntax error or an expression that
//! is not a literal) is `None`, and the caller keeps the text as it was written.

/// A value `ast.literal_eval` can produce, with tuples and sets already turned into lists
/// as Ansible does.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    None,
    Bool(bool),
    Int(i128),
    /// An integer too large for `i128`, in decimal.
    BigInt(String),
    Float(f64),
    Str(String),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

/// Bound on nesting, so `[[[[…]]]]` cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

pub(super) fn literal_eval(text: &str) -> Option<Literal> {
    let tokens = tokenize(text.trim_start_matches([' ', '\t']))?;
    let mut parser = Parser {
        tokens,
        position: 0,
        depth: 0,
    };
    let value = parser.expression_list(None)?;
    (parser.position == parser.tokens.len()).then_some(value)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Int(i128),
    BigInt(String),
    Float(f64),
    Imaginary,
    Str { value: String, bytes: bool },
    Name(String),
    Ellipsis,
    Punct(char),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, ' ' | '\t' | '\x0c') {
            i += 1;
        } else if c == '#' {
            break;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (token, next) = number(&chars, i)?;
            tokens.push(token);
            i = next;
        } else if c == '.' && chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
            tokens.push(Token::Ellipsis);
            i += 3;
        } else if c == '\'' || c == '"' {
            let (token, next) = string(&chars, i, "")?;
            tokens.push(token);
            i = next;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if matches!(chars.get(i), Some('\'' | '"')) {
                let (token, next) = string(&chars, i, &word.to_ascii_lowercase())?;
                tokens.push(token);
                i = next;
            } else {
                tokens.push(Token::Name(word));
            }
        } else if "()[]{},:+-".contains(c) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(tokens)
}

/// Digits with single underscores between them, from `i`; returns the end.
fn digit_part(chars: &[char], mut i: usize, radix: u32) -> Option<usize> {
    if !chars.get(i)?.is_digit(radix) {
        return None;
    }
    while i < chars.len() {
        let separator = chars[i] == '_' && chars.get(i + 1).is_some_and(|c| c.is_digit(radix));
        if !(chars[i].is_digit(radix) || separator) {
            break;
        }
        i += 1;
    }
    Some(i)
}

fn number(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let text = |from: usize, to: usize| {
        chars[from..to]
            .iter()
            .filter(|c| **c != '_')
            .collect::<String>()
    };
    let ends_cleanly = |i: usize| {
        !chars
            .get(i)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    };
    // Hexadecimal, octal and binary integers.
    if chars[start] == '0' {
        if let Some(radix) = match chars.get(start + 1) {
            Some('x' | 'X') => Some(16),
            Some('o' | 'O') => Some(8),
            Some('b' | 'B') => Some(2),
            _ => None,
        } {
            let digits_start = start + 2 + usize::from(chars.get(start + 2) == Some(&'_'));
            let end = digit_part(chars, digits_start, radix)?;
            if !ends_cleanly(end) {
                return None;
            }
            let value = i128::from_str_radix(&text(digits_start, end), radix).ok()?;
            return Some((Token::Int(value), end));
        }
    }
    let mut i = start;
    let mut is_float = false;
    if chars[i] != '.' {
        i = digit_part(chars, i, 10)?;
    }
    let integer_end = i;
    if chars.get(i) == Some(&'.') {
        is_float = true;
        i += 1;
        if chars.get(i).is_some_and(char::is_ascii_digit) {
            i = digit_part(chars, i, 10)?;
        }
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        is_float = true;
        i += 1;
        if matches!(chars.get(i), Some('+' | '-')) {
            i += 1;
        }
        i = digit_part(chars, i, 10)?;
    }
    if matches!(chars.get(i), Some('j' | 'J')) {
        return ends_cleanly(i + 1).then_some((Token::Imaginary, i + 1));
    }
    if !ends_cleanly(i) {
        return None;
    }
    if is_float {
        let value: f64 = text(start, i).parse().ok()?;
        return Some((Token::Float(value), i));
    }
    let digits = text(start, integer_end);
    // Python refuses leading zeros in a decimal integer, except for zero itself.
    if digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
        return None;
    }
    let token = match digits.parse::<i128>() {
        Ok(value) => Token::Int(value),
        Err(_) => Token::BigInt(digits),
    };
    Some((token, i))
}

/// A string literal whose opening quote is at `start`, with an optional prefix.
fn string(chars: &[char], start: usize, prefix: &str) -> Option<(Token, usize)> {
    let (raw, bytes) = match prefix {
        "" | "u" => (false, false),
        "r" => (true, false),
        "b" => (false, true),
        "br" | "rb" => (true, true),
        _ => return None,
    };
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    let mut value = String::new();
    loop {
        let c = *chars.get(i)?;
        if c == quote
            && (!triple || (chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote)))
        {
            i += if triple { 3 } else { 1 };
            break;
        }
        if bytes && !c.is_ascii() {
            return None;
        }
        if c != '\\' {
            value.push(c);
            i += 1;
            continue;
        }
        let next = *chars.get(i + 1)?;
        if raw {
            value.push(c);
            value.push(next);
            i += 2;
            continue;
        }
        i += 2;
        match next {
            '\\' | '\'' | '"' => value.push(next),
            'a' => value.push('\x07'),
            'b' => value.push('\x08'),
            'f' => value.push('\x0c'),
            'n' => value.push('\n'),
            'r' => value.push('\r'),
            't' => value.push('\t'),
            'v' => value.push('\x0b'),
            '0'..='7' => {
                let mut code = next.to_digit(8)?;
                for _ in 0..2 {
                    match chars.get(i).and_then(|c| c.to_digit(8)) {
                        Some(digit) => {
                            code = code * 8 + digit;
                            i += 1;
                        }
                        None => break,
                    }
                }
                value.push(char::from_u32(code)?);
            }
            'x' => {
                value.push(hex_escape(chars, i, 2)?);
                i += 2;
            }
            'u' | 'U' if !bytes => {
                let width = if next == 'u' { 4 } else { 8 };
                value.push(hex_escape(chars, i, width)?);
                i += width;
            }
            // `\N{NAME}` needs Unicode's name table; such a value stays text.
            'N' if !bytes => return None,
            _ => {
                value.push('\\');
                value.push(next);
            }
        }
    }
    Some((Token::Str { value, bytes }, i))
}

fn hex_escape(chars: &[char], start: usize, width: usize) -> Option<char> {
    let digits: String = chars.get(start..start + width)?.iter().collect();
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Token::Punct(punct)) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    /// `a`, or the tuple `a, b,` up to `close` (or the end); a tuple becomes a list.
    fn expression_list(&mut self, close: Option<char>) -> Option<Literal> {
        let first = self.expression()?;
        if !self.eat(',') {
            return Some(first);
        }
        let mut items = vec![first];
        while !self.at_end(close) {
            items.push(self.expression()?);
            if !self.eat(',') {
                break;
            }
        }
        Some(Literal::List(items))
    }

    fn at_end(&self, close: Option<char>) -> bool {
        match close {
            Some(close) => self.peek() == Some(&Token::Punct(close)),
            None => self.peek().is_none(),
        }
    }

    /// A literal, a signed number, or `real ± imaginary` (a complex number, which stays text).
    fn expression(&mut self) -> Option<Literal> {
        let left = self.signed()?;
        if matches!(self.peek(), Some(Token::Punct('+' | '-'))) {
            // Only `real + imaginary` is a literal there; Ansible turns the complex number
            // into text, and so do we by failing the whole value.
            return None;
        }
        Some(left)
    }

    fn signed(&mut self) -> Option<Literal> {
        let negative = match self.peek() {
            Some(Token::Punct('-')) => true,
            Some(Token::Punct('+')) => false,
            _ => return self.atom(),
        };
        self.position += 1;
        // Python signs only a number constant, possibly in parentheses: `-(1)` but not `-(-1)`.
        let operand = self.tokens[self.position..]
            .iter()
            .find(|token| **token != Token::Punct('('));
        if !matches!(
            operand,
            Some(Token::Int(_) | Token::BigInt(_) | Token::Float(_))
        ) {
            return None;
        }
        match self.atom()? {
            Literal::Int(value) => Some(Literal::Int(if negative { -value } else { value })),
            Literal::BigInt(digits) => Some(Literal::BigInt(if negative {
                format!("-{digits}")
            } else {
                digits
            })),
            Literal::Float(value) => Some(Literal::Float(if negative { -value } else { value })),
            _ => None,
        }
    }

    fn atom(&mut self) -> Option<Literal> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let token = self.peek()?.clone();
        self.position += 1;
        let value = match token {
            Token::Int(value) => Literal::Int(value),
            Token::BigInt(digits) => Literal::BigInt(digits),
            Token::Float(value) => Literal::Float(value),
            Token::Imaginary => return None,
            Token::Ellipsis => Literal::Str("...".into()),
            Token::Str { value, bytes } => {
                let mut text = value;
                while let Some(Token::Str {
                    value,
                    bytes: more_bytes,
                }) = self.peek()
                {
                    if *more_bytes != bytes {
                        return None;
                    }
                    text.push_str(value);
                    self.position += 1;
                }
                Literal::Str(text)
            }
            Token::Name(name) => match name.as_str() {
                "True" => Literal::Bool(true),
                "False" => Literal::Bool(false),
                "None" => Literal::None,
                "set" if self.eat('(') && self.eat(')') => Literal::List(Vec::new()),
                _ => return None,
            },
            Token::Punct('(') => {
                if self.eat(')') {
                    Literal::List(Vec::new())
                } else {
                    let value = self.expression_list(Some(')'))?;
                    if !self.eat(')') {
                        return None;
                    }
                    value
                }
            }
            Token::Punct('[') => Literal::List(self.items(']')?),
            Token::Punct('{') => self.braces()?,
            Token::Punct(_) => return None,
        };
        self.depth -= 1;
        Some(value)
    }

    fn items(&mut self, close: char) -> Option<Vec<Literal>> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.expression()?);
            if !self.eat(',') {
                return self.eat(close).then_some(items);
            }
        }
        Some(items)
    }

    /// `{}` and `{k: v}` are dicts, `{a, b}` a set (a list, without duplicates).
    fn braces(&mut self) -> Option<Literal> {
        if self.eat('}') {
            return Some(Literal::Dict(Vec::new()));
        }
        let first = self.expression()?;
        if !self.eat(':') {
            let mut items = vec![first];
            if self.eat(',') {
                items.extend(self.items('}')?);
            } else if !self.eat('}') {
                return None;
            }
            let mut unique: Vec<Literal> = Vec::new();
            for item in items {
                if !unique.contains(&item) {
                    unique.push(item);
                }
            }
            return Some(Literal::List(unique));
        }
        let mut entries: Vec<(Literal, Literal)> = Vec::new();
        let mut key = first;
        loop {
            let value = self.expression()?;
            match entries.iter_mut().find(|(existing, _)| *existing == key) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
            if !self.eat(',') || self.peek() == Some(&Token::Punct('}')) {
                break;
            }
            key = self.expression()?;
            if !self.eat(':') {
                return None;
            }
        }
        self.eat('}').then_some(Literal::Dict(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::Literal::*;
    use super::*;

    fn eval(text: &str) -> Option<Literal> {
        literal_eval(text)
    }

    fn s(text: &str) -> Literal {
        Str(text.into())
    }

    #[test]
    fn reads_numbers_like_python() {
        assert_eq!(eval("22"), Some(Int(22)));
        assert_eq!(eval("-3"), Some(Int(-3)));
        assert_eq!(eval("+3"), Some(Int(3)));
        assert_eq!(eval("1_000"), Some(Int(1000)));
        assert_eq!(eval("0x10"), Some(Int(16)));
        assert_eq!(eval("0o17"), Some(Int(15)));
        assert_eq!(eval("0b101"), Some(Int(5)));
        assert_eq!(eval("00"), Some(Int(0)));
        assert_eq!(eval("1.5"), Some(Float(1.5)));
        assert_eq!(eval("1.20"), Some(Float(1.2)));
        assert_eq!(eval("1e3"), Some(Float(1000.0)));
        assert_eq!(eval(".5"), Some(Float(0.5)));
        assert_eq!(eval("1."), Some(Float(1.0)));
        assert_eq!(
            eval("123456789012345678901234567890123456789012"),
            Some(BigInt("123456789012345678901234567890123456789012".into()))
        );
    }

    #[test]
    fn leaves_non_literals_alone() {
        for text in [
            "0755",
            "007",
            "1.2.3",
            "10.0.0.1",
            "hello",
            "it's",
            "",
            "1 2",
            "1__0",
            "1_",
            "--1",
            "-True",
            "-(-1)",
            "1+2",
            "1+2j",
            "2j",
            "x=1",
            "[1, 2",
            "f'a'",
            "1abc",
            "0x",
            "abc # x",
            "http://x/?a=b#frag",
            "\"unterminated",
        ] {
            assert_eq!(eval(text), Option::None, "{text}");
        }
    }

    #[test]
    fn reads_constants_strings_and_comments() {
        assert_eq!(eval("True"), Some(Bool(true)));
        assert_eq!(eval("None"), Some(None));
        assert_eq!(eval("'quoted'"), Some(s("quoted")));
        assert_eq!(eval("\"a\\tb\\x41\\u00e9\\101\\q\""), Some(s("a\tbAéA\\q")));
        assert_eq!(eval("r'a\\n'"), Some(s("a\\n")));
        assert_eq!(eval("b'bytes'"), Some(s("bytes")));
        assert_eq!(eval("'a' \"b\""), Some(s("ab")));
        assert_eq!(eval("'''tri'ple'''"), Some(s("tri'ple")));
        assert_eq!(eval("..."), Some(s("...")));
        assert_eq!(eval("23 # a comment"), Some(Int(23)));
        assert_eq!(eval("  True"), Some(Bool(true)));
    }

    #[test]
    fn reads_containers() {
        assert_eq!(eval("[1, 'a']"), Some(List(vec![Int(1), s("a")])));
        assert_eq!(eval("(1,2)"), Some(List(vec![Int(1), Int(2)])));
        assert_eq!(eval("1,2,"), Some(List(vec![Int(1), Int(2)])));
        assert_eq!(eval("(1)"), Some(Int(1)));
        assert_eq!(eval("-(1)"), Some(Int(-1)));
        assert_eq!(eval("()"), Some(List(vec![])));
        assert_eq!(eval("set()"), Some(List(vec![])));
        assert_eq!(eval("{1, 1, 2}"), Some(List(vec![Int(1), Int(2)])));
        assert_eq!(
            eval("{'k': 1, 2: [None], 'k': 3,}"),
            Some(Dict(vec![(s("k"), Int(3)), (Int(2), List(vec![None]))]))
        );
        assert_eq!(eval("{}"), Some(Dict(vec![])));
        assert_eq!(eval("[[1][0]]"), Option::None);
    }
}
