pub mod finding;
pub mod kinds;
pub mod manifest;
pub mod plan;
pub mod source;
pub mod validate;
