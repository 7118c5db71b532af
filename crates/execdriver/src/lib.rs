//! execdriver
