//! TLS for what the library connects to itself (Redis over `rediss://`, MCP servers over
//! `https://`), on the crypto the AWS SDK already builds.

/// Installs aws-lc-rs as the process's rustls crypto provider, unless one is already installed.
/// rustls picks none by itself when a program links more than one (the AWS SDK's, ring through
/// another crate), and then panics at the first TLS connection.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
