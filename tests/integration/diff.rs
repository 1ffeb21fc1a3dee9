//! `devspec diff`: being written.
