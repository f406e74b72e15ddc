//! Python's `random.Random`, bit for bit, for the seeded `random` and `shuffle` filters.
//!
//! Playbooks spread cron jobs with `{{ 59 | random(seed=inventory_hostname) }}` and rely
//! on each host getting the same minute on every run, and the same minute Ansible gave
//! it. That needs Python's generator exactly: MT19937 seeded the way CPython seeds it
//! (a string seed is extended with its SHA-512 digest), and CPython's `randbelow`,
//! `randrange`, `choice` and `shuffle` on top.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, State, Value};
use rand::seq::SliceRandom;
use rand::Rng;
use sha2::{Digest, Sha512};

use super::python::{ensure_defined, failure, items, py_str, Params};

const STATE_SIZE: usize = 624;

/// CPython's Mersenne Twister.
pub(crate) struct PyRandom {
    state: [u32; STATE_SIZE],
    index: usize,
}

/// What `Random(seed)` accepts from a template: an integer or a string.
pub(crate) enum Seed<'a> {
    Int(i128),
    Text(&'a str),
}

impl PyRandom {
    pub(crate) fn new(seed: Seed<'_>) -> PyRandom {
        let key = match seed {
            Seed::Int(number) => words_of(&number.unsigned_abs().to_be_bytes()),
            Seed::Text(text) => {
                // random.seed(str) in version 2: int.from_bytes(text + sha512(text)).
                let mut bytes = text.as_bytes().to_vec();
                bytes.extend_from_slice(&Sha512::digest(text.as_bytes()));
                words_of(&bytes)
            }
        };
        let mut generator = PyRandom {
            state: [0; STATE_SIZE],
            index: STATE_SIZE,
        };
        generator.init_by_array(&key);
        generator
    }

    fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..STATE_SIZE {
            let previous = self.state[i - 1];
            self.state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        self.index = STATE_SIZE;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let mut i = 1;
        let mut j = 0;
        for _ in 0..STATE_SIZE.max(key.len()) {
            let previous = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (previous ^ (previous >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= STATE_SIZE {
                self.state[0] = self.state[STATE_SIZE - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..STATE_SIZE - 1 {
            let previous = self.state[i - 1];
            self.state[i] = (self.state[i]
                ^ (previous ^ (previous >> 30)).wrapping_mul(1_566_083_941))
            .wrapping_sub(i as u32);
            i += 1;
            if i >= STATE_SIZE {
                self.state[0] = self.state[STATE_SIZE - 1];
                i = 1;
            }
        }
        self.state[0] = 0x8000_0000;
    }

    fn next_u32(&mut self) -> u32 {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX: u32 = 0x9908_b0df;
        if self.index >= STATE_SIZE {
            for k in 0..STATE_SIZE {
                let y = (self.state[k] & UPPER) | (self.state[(k + 1) % STATE_SIZE] & LOWER);
                let mut next = self.state[(k + 397) % STATE_SIZE] ^ (y >> 1);
                if y & 1 != 0 {
                    next ^= MATRIX;
                }
                self.state[k] = next;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `getrandbits(k)` for k up to 64.
    fn random_bits(&mut self, bits: u32) -> u64 {
        if bits == 0 {
            return 0;
        }
        if bits <= 32 {
            return u64::from(self.next_u32() >> (32 - bits));
        }
        let low = u64::from(self.next_u32());
        let high = u64::from(self.next_u32() >> (64 - bits));
        low | (high << 32)
    }

    /// `_randbelow(n)`: a uniform integer in `0..n`, by rejection sampling.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        let bits = 64 - n.leading_zeros();
        loop {
            let candidate = self.random_bits(bits);
            if candidate < n {
                return candidate;
            }
        }
    }

    /// `randrange(start, stop, step)`; `None` for an empty range or a zero step.
    pub(crate) fn randrange(&mut self, start: i64, stop: i64, step: i64) -> Option<i64> {
        let width = stop.checked_sub(start)?;
        if step == 1 {
            return (width > 0).then(|| start + self.below(width as u64) as i64);
        }
        let count = match step {
            0 => return None,
            s if s > 0 => (width + s - 1).div_euclid(s),
            s => (width + s + 1).div_euclid(s),
        };
        (count > 0).then(|| start + step * self.below(count as u64) as i64)
    }

    /// `shuffle(items)`: Fisher-Yates from the end, as CPython does it.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// The 32-bit words of a big-endian number, least significant first, without leading
/// zero words (CPython's key for `init_by_array`; zero becomes one zero word).
fn words_of(bytes: &[u8]) -> Vec<u32> {
    let mut words: Vec<u32> = bytes
        .rchunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte))
        })
        .collect();
    while words.len() > 1 && words.last() == Some(&0) {
        words.pop();
    }
    if words.is_empty() {
        words.push(0);
    }
    words
}

fn seeded(seed: &Value) -> PyRandom {
    match seed.kind() {
        ValueKind::Number if seed.is_integer() => {
            PyRandom::new(Seed::Int(i128::try_from(seed.clone()).unwrap_or(0)))
        }
        ValueKind::Bool => PyRandom::new(Seed::Int(i128::from(seed.is_true()))),
        _ => PyRandom::new(Seed::Text(&py_str(seed))),
    }
}

/// `random(start=None, step=None, seed=None)`: a number below the value, or an item of
/// it. With a seed the result is the one Ansible (CPython's generator) gives.
pub(crate) fn random(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("random", &["start", "step", "seed"], &args, &kwargs)?;
    ensure_defined(state, value)?;
    let mut generator = params.get("seed").filter(|s| !s.is_none()).map(seeded);
    let start = params.integer("start")?.unwrap_or(0);
    let step = params.integer("step")?.filter(|s| *s != 0).unwrap_or(1);
    if value.kind() == ValueKind::Number && value.is_integer() {
        let end = value
            .as_i64()
            .ok_or_else(|| failure("random: the end is too large"))?;
        let empty = || {
            failure(format!(
                "empty range for randrange() ({start}, {end}, {step})"
            ))
        };
        let number = match generator.as_mut() {
            Some(generator) => generator.randrange(start, end, step).ok_or_else(empty)?,
            None => {
                let count = if step > 0 {
                    (end - start + step - 1).div_euclid(step)
                } else {
                    (end - start + step + 1).div_euclid(step)
                };
                if count <= 0 {
                    return Err(empty());
                }
                start + step * rand::thread_rng().gen_range(0..count)
            }
        };
        return Ok(Value::from(number));
    }
    if matches!(
        value.kind(),
        ValueKind::Number | ValueKind::Bool | ValueKind::None
    ) {
        return Err(failure("random can only be used on sequences and integers"));
    }
    if params.get("start").is_some_and(Value::is_true)
        || params.get("step").is_some_and(Value::is_true)
    {
        return Err(failure(
            "start and step can only be used with integer values",
        ));
    }
    let pool = items(state, value)?;
    if pool.is_empty() {
        return Err(failure("Cannot choose from an empty sequence"));
    }
    let index = match generator.as_mut() {
        Some(generator) => generator.below(pool.len() as u64) as usize,
        None => rand::thread_rng().gen_range(0..pool.len()),
    };
    Ok(pool[index].clone())
}

/// `shuffle(seed=None)`: a shuffled copy; with a seed, Ansible's order.
pub(crate) fn shuffle(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let params = Params::bind("shuffle", &["seed"], &args, &kwargs)?;
    let mut pool = items(state, value)?;
    match params.get("seed").filter(|seed| seed.is_true()) {
        Some(seed) => seeded(seed).shuffle(&mut pool),
        None => pool.shuffle(&mut rand::thread_rng()),
    }
    Ok(Value::from(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values come from CPython 3.11 (`random.Random(seed)`), the generator behind
    // Ansible's filters.
    #[test]
    fn integer_seeds_match_cpython() {
        let mut generator = PyRandom::new(Seed::Int(3));
        assert_eq!(generator.randrange(0, 5, 1), Some(1));
        let mut generator = PyRandom::new(Seed::Int(42));
        assert_eq!(generator.below(3), 2);
        let mut generator = PyRandom::new(Seed::Int(1));
        let mut items = [1, 2, 3, 4, 5];
        generator.shuffle(&mut items);
        assert_eq!(items, [3, 4, 5, 1, 2]);
    }

    #[test]
    fn string_seeds_match_cpython() {
        let mut generator = PyRandom::new(Seed::Text("host1"));
        assert_eq!(generator.randrange(0, 59, 1), Some(31));
        let mut generator = PyRandom::new(Seed::Text("a"));
        assert_eq!(generator.randrange(1, 100, 10), Some(41));
        let mut generator = PyRandom::new(Seed::Text("x"));
        let mut items = ['a', 'b', 'c', 'd'];
        generator.shuffle(&mut items);
        assert_eq!(items, ['a', 'b', 'd', 'c']);
    }
}
