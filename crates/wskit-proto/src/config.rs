//! Limits and settings of a connection.

use std::sync::Arc;

use crate::deflate::DeflateConfig;

/// Limits and settings shared by both roles. A by-value builder: every setter returns `Self`.
///
/// The settings sit behind one reference-counted pointer: cloning a `Config` for each
/// connection of a server costs no allocation, and every idle [`Connection`](crate::Connection)
/// holds one pointer instead of its own copy.
///
/// # Example
/// ```
/// use wskit_proto::Config;
/// let config = Config::default().max_message_size(1 << 20);
/// assert_eq!(config.max_message_size_limit(), 1 << 20);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config {
    settings: Arc<Settings>,
}

/// The values of a [`Config`].
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) fragment_charge: usize,
    pub(crate) send_fragment_size: Option<usize>,
    pub(crate) deflate: Option<DeflateConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            fragment_charge: 64,
            send_fragment_size: None,
            deflate: Some(DeflateConfig::default()),
        }
    }
}

impl Config {
    /// The largest frame payload accepted; a larger declared length closes with 1009 before
    /// anything is read or allocated. Default: 16 MiB.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.settings_mut().max_frame_size = bytes;
        self
    }

    /// The largest message accepted, counted after decompression; a larger one closes with
    /// 1009. Default: 64 MiB.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.settings_mut().max_message_size = bytes;
        self
    }

    /// The least each fragment is charged against the message size limit, so a message made
    /// of many tiny fragments cannot cost more memory than the limit suggests. Default: 64.
    #[must_use]
    pub fn fragment_charge(mut self, bytes: usize) -> Self {
        self.settings_mut().fragment_charge = bytes;
        self
    }

    /// Splits outgoing messages longer than this into fragments of this size (after
    /// compression), so a large message does not hold up control frames on the wire.
    /// Default: `None` (every message is one frame).
    #[must_use]
    pub fn send_fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.settings_mut().send_fragment_size = bytes;
        self
    }

    /// permessage-deflate: what a server accepts or a client offers; `None` turns it off.
    /// Default: on, with [`DeflateConfig::default`].
    #[must_use]
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.settings_mut().deflate = deflate;
        self
    }

    /// The configured message size limit.
    #[must_use]
    pub fn max_message_size_limit(&self) -> usize {
        self.settings.max_message_size
    }

    /// The configured frame size limit.
    #[must_use]
    pub fn max_frame_size_limit(&self) -> usize {
        self.settings.max_frame_size
    }

    /// The permessage-deflate settings, if enabled.
    #[must_use]
    pub fn deflate_config(&self) -> Option<&DeflateConfig> {
        self.settings.deflate.as_ref()
    }

    /// The values, for reading.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The values, for a setter: copied first when another `Config` shares them.
    fn settings_mut(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
    }
}
