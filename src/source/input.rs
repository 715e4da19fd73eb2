//! What a source hands to the desired side: each manifest file's bytes
//! with the paths it is reported under ([`SourceFile`]), and the bounds
//! ([`Limits`]) on what reading and parsing them may cost. Defined here,
//! where files are read, so that `manifest` (which parses them) depends on
//! `source` and never the other way round.

/// A file's bytes and the path it is reported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// As shown to users: relative to where they pointed mooring, or the
    /// path inside the Git tree.
    pub path: String,
    /// Relative to the manifest root (the directory or Git sub-folder
    /// mooring was pointed at): the same on disk and in Git.
    pub rel: String,
    pub bytes: Vec<u8>,
}

/// Bounds on what one file may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest manifest file read, in bytes.
    pub max_file_bytes: u64,
    /// Most nodes one document may hold, counting every node an alias
    /// expands to.
    pub max_nodes: usize,
    /// Most scalar text (keys and values) one document may hold, counting
    /// every copy an alias expands to: the bound on memory.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most bytes of manifests one run reads, all files together.
    pub max_total_bytes: u64,
    /// Most documents one run reads, all files together.
    pub max_documents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 * 1024 * 1024,
            max_nodes: 200_000,
            max_bytes: 32 * 1024 * 1024,
            max_depth: 64,
            max_total_bytes: 64 * 1024 * 1024,
            max_documents: 100_000,
        }
    }
}
