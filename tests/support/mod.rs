pub mod dovecot;
pub mod proxy;
