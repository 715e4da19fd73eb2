//! Retry with capped exponential backoff, shared by every backend. Which
//! errors are worth retrying is each backend's call; how long to wait is
//! this.

use std::time::Duration;

/// `attempts` tries in all (the first included), waiting `base`,
/// `2 × base`, `4 × base`, … (at most `max`) in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Retry {
    /// The wait after failed try number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = Retry {
            attempts: 10,
            base: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let delays: Vec<u128> = (0..5).map(|a| r.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        // Far past the cap, no overflow.
        assert_eq!(r.delay(u32::MAX), Duration::from_millis(500));
    }
}
