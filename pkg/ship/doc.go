// Package ship delivers an agent's alerts to the collector, at least once,
// through collector outages and agent restarts.
//
// The path of an alert: Enqueue puts it, encoded, into a bounded memory
// queue (never blocking the caller); a writer goroutine appends everything
// queued to an on-disk spool; a sender goroutine streams the spool to the
// collector over mTLS gRPC and advances the spool's delivered cursor as the
// collector acknowledges each batch by alert id. The collector stores every
// alert id once per node, so resending after a reconnect or a restart never
// creates a duplicate.
//
// Spool format: a directory of append-only segment files named by the
// sequence number of their first record. Each record is length-prefixed and
// carries a CRC-32C over its sequence number and payload, so a record torn
// by a crash is detected when the spool is opened: the bad tail is cut off
// and counted (vigil_ship_spool_corrupt_total and …_bytes_total), and
// everything before it is kept. A segment is deleted once all its records
// are delivered; the delivered cursor is a small file rewritten by rename.
//
// Durability (SpoolOptions.SyncEvery): by default every append is fsynced,
// and an append carries every alert waiting in the queue, so a burst costs
// one fsync. New segment files are fsynced into the directory. The cursor
// is not fsynced: losing it only means redelivering, which is harmless.
//
// Loss policy, every case counted in vigil_ship_dropped_total{reason}:
//   - queue_full: the memory queue is full (the spool writer is behind);
//     Enqueue returns ErrQueueFull at once.
//   - spool_full: the spool holds SpoolOptions.MaxBytes. The NEWEST alerts
//     are dropped and the oldest kept: the first alerts of an incident are
//     the ones an investigation needs, and an attacker who floods alerts
//     while the collector is unreachable must not be able to push them out.
//   - disk_full: the spool's file system is full (ENOSPC, EDQUOT). Again
//     the NEWEST alerts are dropped, as they arrive, and none already
//     spooled, for the same reasons; making room for them would mean
//     deleting undelivered segments, whole megabytes of the oldest alerts
//     at a time. The segment being written is closed at the first failed
//     append, so it is deleted as soon as it is delivered, and the cursor
//     failing to be written does not stop delivery (it is counted in
//     vigil_ship_spool_cursor_errors_total): once the collector is back,
//     delivery frees the disk and appends work again, with no restart.
//   - spool_error: the disk refused a write otherwise (an I/O error).
//   - invalid: no id, or larger than MaxRecordBytes (the collector would
//     refuse it forever); or a spooled record that does not decode, which
//     is dropped alone while the rest of its batch is sent.
//   - rejected: the collector refused it as malformed; it is not resent.
//   - shutdown: enqueued after Close.
//
// Reconnects back off exponentially from MinBackoff to MaxBackoff with
// jitter, and start again from MinBackoff after a stream that delivered.
// Alert ids are immutable: an alert sent again with the same id but other
// content (a higher dedup count) is taken as the one already stored.
//
// The rest of the agent API rides on the same connection (Shipper.Conn):
// ProfileWatch follows the profile stream with reconnects, and status
// reports and drafts are plain calls of vigilv1.AgentServiceClient.
package ship
