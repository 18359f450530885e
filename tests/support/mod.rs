pub mod dovecot;
pub mod proxy;
pub mod token_endpoint;
