//! graphdriver
