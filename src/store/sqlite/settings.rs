//! The store's location and settings.

use super::*;

impl Settings for SqliteStore {
    fn location(&self) -> &str {
        &self.path
    }
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?)
    }
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.flush()?;
        self.conn.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
        Ok(())
    }
}
