//! Lock files, bundles and verification: being written.
