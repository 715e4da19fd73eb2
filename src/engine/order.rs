//! The order in which changes are applied: what other objects depend on
//! goes first, and deletions go in reverse. The tiers are kind facts
//! ([`crate::kinds::KindFacts::tier`]).

use crate::kinds;
use crate::manifest::ObjectId;

/// The apply tier of an object: lower tiers are applied first (and deleted
/// last).
pub fn tier(id: &ObjectId) -> u8 {
    kinds::facts(&id.group, &id.kind).tier
}

/// Number of tiers.
pub const TIERS: u8 = kinds::TIERS;
