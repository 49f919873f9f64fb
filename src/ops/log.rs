//! `log`.

use std::borrow::Cow;
use std::fmt::Debug;

use tracing::Level;

use super::linear::{Ctl, Emit, Logic};
use crate::{LogLevels, StreamError};

pub(crate) struct Log {
    pub(crate) name: Cow<'static, str>,
    pub(crate) levels: LogLevels,
    pub(crate) finished: bool,
}

macro_rules! event_at {
    ($level:expr, $($arg:tt)+) => {
        match $level {
            Level::ERROR => tracing::error!($($arg)+),
            Level::WARN => tracing::warn!($($arg)+),
            Level::INFO => tracing::info!($($arg)+),
            Level::DEBUG => tracing::debug!($($arg)+),
            Level::TRACE => tracing::trace!($($arg)+),
        }
    };
}

impl<T: Debug + Send + 'static> Logic<T, T> for Log {
    #[inline]
    fn on_element(&mut self, x: T, out: &mut Emit<'_, T>) -> Result<Ctl, StreamError> {
        if let Some(level) = self.levels.on_element {
            event_at!(level, stage = %self.name, element = ?x, "element");
        }
        out.push(x);
        Ok(Ctl::Continue)
    }

    fn on_complete(&mut self, _out: &mut Emit<'_, T>) -> Result<(), StreamError> {
        self.finished = true;
        if let Some(level) = self.levels.on_finish {
            event_at!(level, stage = %self.name, "upstream finished");
        }
        Ok(())
    }

    fn intercepts_failure(&self) -> bool {
        true
    }

    fn on_failure(
        &mut self,
        error: StreamError,
        _out: &mut Emit<'_, T>,
    ) -> Result<(), StreamError> {
        self.finished = true;
        if let Some(level) = self.levels.on_failure {
            event_at!(level, stage = %self.name, %error, "upstream failed");
        }
        Err(error)
    }
}

impl std::ops::Drop for Log {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(level) = self.levels.on_finish {
                event_at!(level, stage = %self.name, "downstream cancelled");
            }
        }
    }
}
