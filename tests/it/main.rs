//! Integration tests: a real rdockerd driven by rdocker, docker and raw HTTP.
