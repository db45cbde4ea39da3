//! The WebSocket connection state machine (RFC 6455 §5–§7), after the opening handshake.
//!
//! # Using it
//!
//! 1. Append bytes read from the transport to a `BytesMut` and call [`Connection::read`] until
//!    it returns `Ok(None)` (more bytes needed). Each call yields at most one [`Message`]. The
//!    payload of an unfragmented, uncompressed message is split off the caller's buffer, so
//!    it reaches the application without a copy.
//! 2. Queue messages with [`Connection::send`] and friends.
//! 3. Write out [`Connection::outbox`] (a [`bytes::Buf`]) whenever it is not empty; pongs and
//!    close replies are queued there by `read` itself.
//! 4. When [`Connection::is_closed`] turns true and the outbox is empty, close the transport.
//!
//! # Closing
//!
//! ```text
//!            send close                      peer's close
//!   Open ───────────────────▶ CloseSent ─────────────────────▶ Closed
//!     │                                                           ▲
//!     │ peer's close (we queue the echo)  /  protocol violation   │
//!     └───────────────────────────────────────────────────────────┘
//!       (a violation queues a close frame with its code)
//! ```
//!
//! Timing (how long to wait for the peer's close) belongs to the I/O layer: this type never
//! reads a clock.

use std::sync::{Arc, OnceLock};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::close::CloseFrame;
use crate::config::Config;
use crate::deflate::{DeflateCodec, DeflateParams};
use crate::error::{Error, ProtocolError};
use crate::frame::FrameHeader;
use crate::mask::apply_mask;
use crate::message::{Message, Utf8Bytes};
use crate::opcode::OpCode;
use crate::outbox::{COPY_THRESHOLD, Outbox};
use crate::role::Role;
use crate::utf8::Utf8Validator;

/// Where the closing handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// The closing handshake is over (or the connection failed): flush the outbox and close
    /// the transport.
    Closed,
}

/// One end of a WebSocket connection, without I/O.
///
/// # Example
/// ```
/// use bytes::{Buf, BytesMut};
/// use wskit_proto::{Config, Connection, Message};
///
/// let mut client = Connection::client(Config::default(), None, 7);
/// let mut server = Connection::server(Config::default(), None);
/// client.send(Message::text("hello")).unwrap();
///
/// let mut wire = BytesMut::new();
/// let outbox = client.outbox();
/// wire.extend_from_slice(&outbox.copy_to_bytes(outbox.remaining()));
/// assert_eq!(server.read(&mut wire).unwrap(), Some(Message::text("hello")));
/// ```
///
/// # Memory
/// Every idle connection holds this struct, so it is kept small (see the size test): the
/// settings are shared with the [`Config`] it was made from, and what only some connections
/// or only some moments need is boxed (the deflate codec, the state of a fragmented or
/// compressed message, the peer's close frame). A message that arrives as one uncompressed
/// frame, the common case, needs no state beyond `InFrame`.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    state: State,
    /// Shared with the server's (or client's) `Config`: one pointer per connection.
    config: Config,
    /// Boxed: most connections never negotiate it, and every idle connection holds this struct.
    deflate: Option<Box<DeflateCodec>>,
    frame: Option<InFrame>,
    /// A fragmented or compressed message being assembled. Boxed, and kept between messages
    /// (`active` tells whether one is under way) until [`Connection::shrink`], so a stream of
    /// such messages allocates it once.
    message: Option<Box<InMessage>>,
    outbox: Outbox,
    mask_state: u64,
    peer_close: Option<Box<CloseFrame>>,
    /// Whether a ping is answered as it is read ([`Connection::set_auto_pong`]).
    auto_pong: bool,
}

/// The frame being received.
#[derive(Debug)]
struct InFrame {
    opcode: OpCode,
    fin: bool,
    compressed: bool,
    /// At most 14.
    header_len: u8,
    mask: Option<[u8; 4]>,
    /// The text of a message in this one frame (no [`InMessage`]), validated as it arrives.
    utf8: Utf8Validator,
    payload_len: usize,
    /// Payload bytes already unmasked (and UTF-8 checked) in place in the read buffer.
    processed: usize,
}

/// The data message being received, when it is fragmented or compressed.
#[derive(Debug)]
struct InMessage {
    /// Whether a message is under way; the box outlives it for the next one.
    active: bool,
    opcode: OpCode,
    compressed: bool,
    data: Vec<u8>,
    frames: usize,
    charged: usize,
    utf8: Utf8Validator,
}

// ===== impl Connection =====

impl Connection {
    /// A client end. `mask_seed` seeds the generator of masking keys; pass random bits.
    #[must_use]
    pub fn client(config: Config, deflate: Option<DeflateParams>, mask_seed: u64) -> Self {
        let mut conn = Self::new(Role::Client, config, deflate);
        conn.mask_state = mask_seed;
        conn
    }

    /// A server end.
    #[must_use]
    pub fn server(config: Config, deflate: Option<DeflateParams>) -> Self {
        Self::new(Role::Server, config, deflate)
    }

    fn new(role: Role, config: Config, deflate: Option<DeflateParams>) -> Self {
        let deflate = deflate.map(|params| {
            let settings = config.settings().deflate.clone().unwrap_or_default();
            Box::new(DeflateCodec::new(params, role, &settings))
        });
        Self {
            role,
            state: State::Open,
            config,
            deflate,
            frame: None,
            message: None,
            outbox: Outbox::default(),
            mask_state: 0,
            peer_close: None,
            auto_pong: true,
        }
    }

    /// How many encoded bytes wait in the outbox to be written.
    #[must_use]
    pub fn buffered(&self) -> usize {
        Buf::remaining(&self.outbox)
    }

    /// Our role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake stands.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the closing handshake is over (or the connection failed).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether permessage-deflate is in use.
    #[must_use]
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// The peer's close frame, once received.
    #[must_use]
    pub fn peer_close(&self) -> Option<&CloseFrame> {
        self.peer_close.as_deref()
    }

    /// The bytes waiting to be written to the transport.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// How many more bytes the frame being received needs (0 when between frames), so the
    /// caller can size its next read. Never more than the frame size limit.
    #[must_use]
    pub fn bytes_wanted(&self, buf: &BytesMut) -> usize {
        self.frame.as_ref().map_or(0, |f| {
            (usize::from(f.header_len) + f.payload_len).saturating_sub(buf.len())
        })
    }

    /// Processes bytes from the transport held in `buf`, consuming what it uses.
    ///
    /// Returns the next message, or `Ok(None)` when more bytes are needed. Pings are answered
    /// (the pong is queued in the outbox, unless [`Connection::set_auto_pong`] turned that
    /// off) and also returned. A close frame from the peer is
    /// answered and returned as [`Message::Close`]; after it the connection is closed.
    ///
    /// # Errors
    /// [`Error::Protocol`] when the peer broke the protocol: a close frame with the matching
    /// code is queued and the connection is closed. [`Error::Closed`] once closed.
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        loop {
            match self.read_frame(buf) {
                Ok(Some(Step::Message(msg))) => return Ok(Some(msg)),
                Ok(Some(Step::Continue)) => {}
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.fail(err)),
            }
        }
    }

    /// Queues a message. Text and binary messages are compressed when permessage-deflate is in
    /// use; [`Message::Close`] starts the closing handshake.
    ///
    /// # Errors
    /// [`Error::Closing`] or [`Error::Closed`] once a close frame was sent, and the errors of
    /// [`Connection::close`] and [`Connection::ping`].
    pub fn send(&mut self, msg: Message) -> Result<(), Error> {
        match msg {
            Message::Text(text) => self.send_data(OpCode::Text, text.into_bytes()),
            Message::Binary(data) => self.send_data(OpCode::Binary, data),
            Message::Ping(data) => self.ping(&data),
            Message::Pong(data) => self.pong(&data),
            Message::Close(frame) => self.close(frame),
        }
    }

    /// Queues a ping with `payload` (at most 125 bytes).
    ///
    /// # Errors
    /// [`Error::ControlPayloadTooLarge`], or the connection is closing or closed.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        self.send_control(OpCode::Ping, payload)
    }

    /// Whether a ping from the peer is answered with a pong as soon as it is read. Turn it off
    /// only to answer pings yourself, with [`Connection::pong`] (a custom ping handler, as
    /// SwaggerSocket's `PingHdlr`): RFC 6455 §5.5.2 requires an endpoint to answer every ping
    /// it receives before its close. Default: on.
    #[doc(alias = "PingHdlr")]
    pub fn set_auto_pong(&mut self, on: bool) {
        self.auto_pong = on;
    }

    /// Queues a pong with `payload` (at most 125 bytes): unsolicited, or the answer to a ping
    /// when [`Connection::set_auto_pong`] is off.
    ///
    /// # Errors
    /// [`Error::ControlPayloadTooLarge`], or the connection is closing or closed.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake: queues a close frame (with no status when `frame` is
    /// `None`). Further messages from the peer are still read until its close arrives.
    ///
    /// # Errors
    /// [`Error::InvalidCloseCode`] for a code that may not be sent, [`Error::ControlPayloadTooLarge`]
    /// for a reason over 123 bytes, [`Error::Closing`] or [`Error::Closed`].
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.check_open()?;
        let mut payload = Vec::new();
        if let Some(frame) = &frame {
            if !frame.code.is_sendable() {
                return Err(Error::InvalidCloseCode(frame.code.into()));
            }
            if frame.reason.len() > CloseFrame::MAX_REASON_LEN {
                return Err(Error::ControlPayloadTooLarge(frame.reason.len() + 2));
            }
            payload.put_u16(frame.code.into());
            payload.extend_from_slice(frame.reason.as_bytes());
        }
        self.send_control(OpCode::Close, &payload)?;
        self.state = State::CloseSent;
        Ok(())
    }

    /// Queues a frame encoded beforehand by [`EncodedMessage`], without copying it when this
    /// is a server end (server frames are not masked, so the same bytes serve every
    /// connection). A client end, or a compressed connection, encodes it again.
    ///
    /// # Errors
    /// As [`Connection::send`].
    pub fn send_encoded(&mut self, msg: &EncodedMessage) -> Result<(), Error> {
        self.check_open()?;
        if self.role == Role::Client {
            return self.send_data(msg.opcode, msg.payload.clone());
        }
        let shared = match &self.deflate {
            Some(codec) if codec.should_compress(msg.payload.len()) => {
                match codec.shared_settings() {
                    // Fragmenting means frames of our own; so does another connection's
                    // compressor settings having made the shared frame first.
                    Some(settings) if self.config.settings().send_fragment_size.is_none() => {
                        msg.deflated_frame(settings)
                    }
                    _ => None,
                }
            }
            _ => Some(msg.frame.clone()),
        };
        match shared {
            Some(frame) => {
                self.outbox.push_shared(frame);
                Ok(())
            }
            None => self.send_data(msg.opcode, msg.payload.clone()),
        }
    }

    /// Queues bytes to be written as they are: the rest of a frame whose start was written to
    /// the transport by other means (a broadcast written straight into the socket). Anything
    /// but the exact rest of such a frame corrupts the stream.
    ///
    /// # Example
    /// ```
    /// use bytes::Buf as _;
    /// let mut conn = wskit_proto::Connection::server(wskit_proto::Config::default(), None);
    /// conn.send_raw(bytes::Bytes::from_static(b"lo"));
    /// assert_eq!(conn.outbox().chunk(), b"lo");
    /// ```
    pub fn send_raw(&mut self, bytes: Bytes) {
        self.outbox.push_shared(bytes);
    }

    /// Frees buffers that are empty, so an idle connection holds as little memory as possible.
    pub fn shrink(&mut self) {
        self.outbox.shrink();
        if self.message.as_ref().is_some_and(|msg| !msg.active) {
            self.message = None;
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state {
            State::Open => Ok(()),
            State::CloseSent => Err(Error::Closing),
            State::Closed => Err(Error::Closed),
        }
    }

    fn send_data(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), Error> {
        self.check_open()?;
        let mut rsv1 = false;
        let payload = match &mut self.deflate {
            Some(codec) if codec.should_compress(payload.len()) => {
                let mut compressed = Vec::with_capacity(payload.len() / 2 + 16);
                codec.compress(&payload, &mut compressed);
                rsv1 = true;
                Bytes::from(compressed)
            }
            _ => payload,
        };
        self.queue_frame(opcode, rsv1, payload);
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > 125 {
            return Err(Error::ControlPayloadTooLarge(payload.len()));
        }
        self.queue_frame(opcode, false, Bytes::copy_from_slice(payload));
        Ok(())
    }

    /// Queues a message as one frame, or as fragments of at most
    /// [`Config::send_fragment_size`] bytes (RSV1 on the first fragment only, RFC 7692 §6.1).
    fn queue_frame(&mut self, opcode: OpCode, rsv1: bool, mut payload: Bytes) {
        let limit = match self.config.settings().send_fragment_size {
            Some(limit) if !opcode.is_control() && payload.len() > limit => limit.max(1),
            _ => return self.queue_one(opcode, true, rsv1, payload),
        };
        let mut first = true;
        while payload.len() > limit {
            let piece = payload.split_to(limit);
            let op = if first { opcode } else { OpCode::Continuation };
            self.queue_one(op, false, rsv1 && first, piece);
            first = false;
        }
        self.queue_one(OpCode::Continuation, true, false, payload);
    }

    fn queue_one(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: Bytes) {
        let mask = match self.role {
            Role::Client => Some(self.next_mask()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode: opcode.as_u8(),
            mask,
            payload_len: payload.len() as u64,
        };
        let header_len = header.encoded_len();
        match mask {
            None if payload.len() >= COPY_THRESHOLD => {
                let tail = self.outbox.tail();
                tail.reserve(header_len);
                header.encode(tail);
                self.outbox.commit(header_len);
                self.outbox.push_shared(payload);
            }
            _ => {
                let tail = self.outbox.tail();
                tail.reserve(header_len + payload.len());
                header.encode(tail);
                let start = tail.len();
                tail.extend_from_slice(&payload);
                if let Some(key) = mask {
                    apply_mask(&mut tail[start..], key, 0);
                }
                self.outbox.commit(header_len + payload.len());
            }
        }
    }

    /// A masking key from a small, fast generator (wyrand), seeded with random bits by the
    /// I/O layer. Masking protects intermediaries from a script that picks the bytes on the
    /// wire; this crate does not run untrusted scripts, so a seeded generator is sufficient.
    fn next_mask(&mut self) -> [u8; 4] {
        self.mask_state = self.mask_state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.mask_state) * u128::from(self.mask_state ^ 0xe703_7ed1_a0b4_28db);
        let word = (t >> 64) as u64 ^ t as u64;
        let [a, b, c, d, ..] = word.to_le_bytes();
        [a, b, c, d]
    }

    /// Marks the connection failed, queueing a close frame with the violation's code.
    fn fail(&mut self, err: ProtocolError) -> Error {
        if self.state == State::Open {
            let code = err.close_code();
            let mut payload = Vec::with_capacity(2);
            payload.put_u16(code.into());
            self.queue_frame(OpCode::Close, false, Bytes::from(payload));
        }
        self.state = State::Closed;
        self.frame = None;
        self.message = None;
        Error::Protocol(err)
    }

    fn read_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Step>, ProtocolError> {
        if self.frame.is_none() {
            let Some((header, header_len)) = FrameHeader::parse(buf)? else {
                // The length is judged as soon as its field is in, not only once the masking
                // key has come too.
                self.check_early_length(buf)?;
                return Ok(None);
            };
            self.frame = Some(self.start_frame(header, header_len)?);
        }
        let Some(frame) = self.frame.as_mut() else {
            return Ok(None);
        };
        let header_len = usize::from(frame.header_len);
        let available = buf.len().saturating_sub(header_len).min(frame.payload_len);
        if available > frame.processed {
            let start = header_len + frame.processed;
            let piece = &mut buf[start..header_len + available];
            if let Some(key) = frame.mask {
                apply_mask(piece, key, frame.processed);
            }
            if !frame.opcode.is_control() && !frame.compressed {
                // The text is checked as it arrives: in the message's validator when the
                // message is fragmented, else in the frame's.
                let utf8 = match self.message.as_deref_mut().filter(|m| m.active) {
                    Some(msg) => (msg.opcode == OpCode::Text).then_some(&mut msg.utf8),
                    None => (frame.opcode == OpCode::Text).then_some(&mut frame.utf8),
                };
                if let Some(utf8) = utf8 {
                    utf8.feed(piece).map_err(|_| ProtocolError::InvalidUtf8)?;
                }
            }
            frame.processed = available;
        }
        if frame.processed < frame.payload_len {
            return Ok(None);
        }
        let Some(InFrame {
            opcode,
            fin,
            payload_len,
            utf8,
            ..
        }) = self.frame.take()
        else {
            return Ok(None);
        };
        buf.advance(header_len);
        let payload = buf.split_to(payload_len).freeze();
        match opcode {
            OpCode::Ping => {
                if self.auto_pong && self.state == State::Open {
                    self.send_control(OpCode::Pong, &payload)
                        .map_err(|_| ProtocolError::ControlFrameTooLarge(payload.len() as u64))?;
                }
                Ok(Some(Step::Message(Message::Ping(payload))))
            }
            OpCode::Pong => Ok(Some(Step::Message(Message::Pong(payload)))),
            OpCode::Close => self.receive_close(&payload).map(Some),
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                self.receive_data(opcode, fin, utf8, payload).map(Some)
            }
        }
    }

    /// Refuses a partial header as soon as its length field is in, with the error the whole
    /// header would get (the masking key plays no part in the checks).
    fn check_early_length(&self, buf: &[u8]) -> Result<(), ProtocolError> {
        match FrameHeader::peek(buf)? {
            Some(header) => self.check_frame(&header).map(drop),
            None => Ok(()),
        }
    }

    /// Checks a new frame header against RFC 6455 §5 and the limits, without changing any
    /// state: its opcode, and its payload length as a `usize`.
    fn check_frame(&self, header: &FrameHeader) -> Result<(OpCode, usize), ProtocolError> {
        let opcode =
            OpCode::from_u8(header.opcode).ok_or(ProtocolError::ReservedOpcode(header.opcode))?;
        if header.rsv2 || header.rsv3 {
            return Err(ProtocolError::ReservedBitsSet);
        }
        if header.rsv1 {
            if self.deflate.is_none() {
                return Err(ProtocolError::ReservedBitsSet);
            }
            if !matches!(opcode, OpCode::Text | OpCode::Binary) {
                return Err(ProtocolError::CompressedControlOrContinuation);
            }
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrameFromServer),
            _ => {}
        }
        if opcode.is_control() {
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if header.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLarge(header.payload_len));
            }
        } else if header.payload_len > self.config.settings().max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                size: header.payload_len,
                max: self.config.settings().max_frame_size,
            });
        }
        // The length fits in usize: it is at most 125 or at most the frame size limit.
        let payload_len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        let max_message = self.config.settings().max_message_size;
        let charge = payload_len.max(self.config.settings().fragment_charge);
        let active = self.message.as_deref().filter(|m| m.active);
        match opcode {
            OpCode::Text | OpCode::Binary => {
                if active.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                if !header.rsv1 && payload_len > max_message {
                    return Err(ProtocolError::MessageTooLarge { max: max_message });
                }
            }
            OpCode::Continuation => {
                let msg = active.ok_or(ProtocolError::UnexpectedContinuation)?;
                if msg.charged.saturating_add(charge) > max_message {
                    return Err(ProtocolError::MessageTooLarge { max: max_message });
                }
            }
            _ => {}
        }
        Ok((opcode, payload_len))
    }

    /// Starts a new frame: checks its header ([`Connection::check_frame`]) and starts or
    /// continues the message it belongs to.
    fn start_frame(
        &mut self,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<InFrame, ProtocolError> {
        let (opcode, payload_len) = self.check_frame(&header)?;
        let charge = payload_len.max(self.config.settings().fragment_charge);
        let compressed = match opcode {
            OpCode::Text | OpCode::Binary => {
                if !header.fin || header.rsv1 {
                    // Fragmented or compressed: assembled in an `InMessage`. A message in one
                    // uncompressed frame needs none.
                    let msg = self.message.get_or_insert_with(Box::default);
                    msg.active = true;
                    msg.opcode = opcode;
                    msg.compressed = header.rsv1;
                    msg.data.clear();
                    msg.frames = 0;
                    msg.charged = charge;
                    msg.utf8 = Utf8Validator::default();
                }
                header.rsv1
            }
            OpCode::Continuation => {
                // `check_frame` found the message under way.
                let Some(msg) = self.message.as_deref_mut() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                msg.charged = msg.charged.saturating_add(charge);
                msg.compressed
            }
            _ => false,
        };
        Ok(InFrame {
            opcode,
            fin: header.fin,
            compressed,
            // A frame header is at most 14 bytes (RFC 6455 §5.2).
            header_len: u8::try_from(header_len).unwrap_or(u8::MAX),
            mask: header.mask,
            utf8: Utf8Validator::default(),
            payload_len,
            processed: 0,
        })
    }

    fn receive_close(&mut self, payload: &[u8]) -> Result<Step, ProtocolError> {
        let frame = CloseFrame::parse(payload)?;
        if self.state == State::Open {
            // Echo the peer's code (RFC 6455 §5.5.1); an empty close is answered with an empty one.
            let mut echo = Vec::with_capacity(2);
            if let Some(frame) = &frame {
                echo.put_u16(frame.code.into());
            }
            self.queue_frame(OpCode::Close, false, Bytes::from(echo));
        }
        self.state = State::Closed;
        self.peer_close = frame.clone().map(Box::new);
        Ok(Step::Message(Message::Close(frame)))
    }

    fn receive_data(
        &mut self,
        opcode: OpCode,
        fin: bool,
        mut utf8: Utf8Validator,
        payload: Bytes,
    ) -> Result<Step, ProtocolError> {
        let max_message = self.config.settings().max_message_size;
        let Some(msg) = self.message.as_deref_mut().filter(|m| m.active) else {
            // A message in one uncompressed frame: its payload, split off the read buffer.
            return match opcode {
                OpCode::Text => {
                    utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                    Ok(Step::Message(Message::Text(Utf8Bytes::from_validated(
                        payload,
                    ))))
                }
                OpCode::Binary => Ok(Step::Message(Message::Binary(payload))),
                _ => Err(ProtocolError::UnexpectedContinuation),
            };
        };
        msg.frames += 1;
        if msg.compressed {
            let codec = self
                .deflate
                .as_mut()
                .ok_or(ProtocolError::ReservedBitsSet)?;
            let before = msg.data.len();
            codec.decompress(&payload, fin, &mut msg.data, max_message)?;
            if msg.opcode == OpCode::Text {
                msg.utf8
                    .feed(&msg.data[before..])
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        } else {
            msg.data.extend_from_slice(&payload);
        }
        if !fin {
            return Ok(Step::Continue);
        }
        msg.active = false;
        let data = Bytes::from(std::mem::take(&mut msg.data));
        Ok(Step::Message(match msg.opcode {
            OpCode::Text => {
                msg.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                Message::Text(Utf8Bytes::from_validated(data))
            }
            _ => Message::Binary(data),
        }))
    }
}

impl Default for InMessage {
    fn default() -> Self {
        Self {
            active: false,
            opcode: OpCode::Binary,
            compressed: false,
            data: Vec::new(),
            frames: 0,
            charged: 0,
            utf8: Utf8Validator::default(),
        }
    }
}

/// What one frame produced.
enum Step {
    Message(Message),
    Continue,
}

/// A message encoded once as an unmasked, uncompressed frame, to be queued on many server
/// connections without copying ([`Connection::send_encoded`]).
///
/// On connections that compress with `server_no_context_takeover` (each message compressed on
/// its own), the compressed frame is also made once, by the first such connection, and shared
/// by every connection with the same window and level.
///
/// # Example
/// ```
/// use wskit_proto::{Config, Connection, EncodedMessage, Message};
/// let encoded = EncodedMessage::new(&Message::text("to everyone")).unwrap();
/// let mut a = Connection::server(Config::default(), None);
/// let mut b = Connection::server(Config::default(), None);
/// a.send_encoded(&encoded).unwrap();
/// b.send_encoded(&encoded).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct EncodedMessage {
    opcode: OpCode,
    payload: Bytes,
    frame: Bytes,
    /// The compressed frame, with the `(window bits, level)` it was made with.
    deflated: Arc<OnceLock<((u8, u32), Bytes)>>,
}

impl EncodedMessage {
    /// Encodes a text or binary message; `None` for control messages.
    #[must_use]
    pub fn new(msg: &Message) -> Option<Self> {
        let (opcode, payload) = match msg {
            Message::Text(text) => (OpCode::Text, text.as_bytes().clone()),
            Message::Binary(data) => (OpCode::Binary, data.clone()),
            _ => return None,
        };
        let frame = encode_frame(opcode, false, &payload);
        Some(Self {
            opcode,
            payload,
            frame,
            deflated: Arc::default(),
        })
    }

    /// The compressed frame for connections with `settings`, made on first use; `None` when
    /// it was made with other settings.
    fn deflated_frame(&self, settings: (u8, u32)) -> Option<Bytes> {
        let (made_with, frame) = self.deflated.get_or_init(|| {
            let (bits, level) = settings;
            let compressed = DeflateCodec::compress_alone(&self.payload, bits, level);
            (settings, encode_frame(self.opcode, true, &compressed))
        });
        (*made_with == settings).then(|| frame.clone())
    }

    /// The encoded frame.
    #[must_use]
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// An unmasked, final frame with `payload`, RSV1 set when `compressed`.
fn encode_frame(opcode: OpCode, compressed: bool, payload: &[u8]) -> Bytes {
    let header = FrameHeader {
        fin: true,
        rsv1: compressed,
        rsv2: false,
        rsv3: false,
        opcode: opcode.as_u8(),
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut frame = BytesMut::with_capacity(header.encoded_len() + payload.len());
    header.encode(&mut frame);
    frame.extend_from_slice(payload);
    frame.freeze()
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: Some([1, 2, 3, 4]),
            payload_len: payload.len() as u64,
        };
        let mut frame = BytesMut::new();
        header.encode(&mut frame);
        let start = frame.len();
        frame.extend_from_slice(payload);
        apply_mask(&mut frame[start..], [1, 2, 3, 4], 0);
        frame.to_vec()
    }

    /// Every idle connection holds a `Connection` (inside the I/O layer's `WebSocket`, inside
    /// a task allocation that tokio rounds up to 128 bytes): 272 bytes before the settings were
    /// shared and the rarely needed parts boxed. Grow it only with a reason.
    #[test]
    fn a_connection_is_small() {
        let size = size_of::<Connection>();
        assert!(size <= 152, "Connection is {size} bytes");
    }

    #[test]
    fn messages_in_one_frame_need_no_message_state() {
        let mut server = Connection::server(Config::default(), None);
        let mut buf = BytesMut::from(&client_frame(true, 0x1, "héllo".as_bytes())[..]);
        assert_eq!(server.read(&mut buf).unwrap(), Some(Message::text("héllo")));
        assert!(server.message.is_none());
    }

    #[test]
    fn the_message_state_is_kept_between_messages_and_freed_by_shrink() {
        let mut server = Connection::server(Config::default(), None);
        let mut wire = Vec::new();
        wire.extend(client_frame(false, 0x1, b"one "));
        wire.extend(client_frame(true, 0x0, b"two"));
        wire.extend(client_frame(true, 0x2, b"whole"));
        wire.extend(client_frame(false, 0x2, b"a"));
        wire.extend(client_frame(true, 0x0, b"b"));
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            server.read(&mut buf).unwrap(),
            Some(Message::text("one two"))
        );
        assert!(server.message.as_ref().is_some_and(|m| !m.active));
        assert_eq!(
            server.read(&mut buf).unwrap(),
            Some(Message::binary(&b"whole"[..]))
        );
        assert_eq!(
            server.read(&mut buf).unwrap(),
            Some(Message::binary(&b"ab"[..]))
        );
        server.shrink();
        assert!(server.message.is_none());
    }

    #[test]
    fn invalid_text_in_a_frame_read_in_pieces_fails_early() {
        let mut server = Connection::server(Config::default(), None);
        let frame = client_frame(true, 0x1, b"ok\xff and more");
        let mut buf = BytesMut::from(&frame[..4]);
        assert_eq!(server.read(&mut buf).unwrap(), None);
        buf.extend_from_slice(&frame[4..9]);
        assert!(matches!(
            server.read(&mut buf),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        ));
    }
}
