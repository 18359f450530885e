//! Reminders per mailbox and period.

use super::*;

impl Reminders for SqliteStore {
    fn reminder(&self, source: &str, period: &str) -> Result<Option<ReminderRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT source, period, run, method, recipient, status, at FROM reminders
                 WHERE source = ?1 AND period = ?2",
                params![source, period],
                |r| {
                    Ok(ReminderRecord {
                        source: r.get(0)?,
                        period: r.get(1)?,
                        run: r.get(2)?,
                        method: r.get(3)?,
                        recipient: r.get(4)?,
                        // An unknown word is read as the doubtful case: it
                        // may have been sent.
                        status: ReminderStatus::parse(&r.get::<_, String>(5)?)
                            .unwrap_or(ReminderStatus::Sending),
                        at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }
    fn record_reminder(&mut self, m: &ReminderRecord) -> Result<(), StoreError> {
        self.flush()?;
        self.conn.execute(
            "INSERT INTO reminders (source, period, run, method, recipient, status, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (source, period) DO UPDATE SET run = excluded.run, method = excluded.method,
               recipient = excluded.recipient, status = excluded.status, at = excluded.at",
            params![m.source, m.period, m.run, m.method, m.recipient, m.status.as_str(), m.at],
        )?;
        Ok(())
    }
}
