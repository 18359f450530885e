pub mod dovecot;
pub mod postgres;
pub mod proxy;
pub mod token_endpoint;
