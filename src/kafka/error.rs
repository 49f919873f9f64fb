//! Kafka failures, as typed errors carried by `StreamError::Failed`.

use std::fmt;

/// A Kafka operation failed.
#[derive(Debug, Clone)]
pub struct KafkaError {
    /// What weir was doing.
    pub operation: &'static str,
    /// The client's description of the failure.
    pub message: String,
    /// Whether retrying can help (a transient broker or network condition).
    pub retriable: bool,
}

impl KafkaError {
    pub(crate) fn from_client(operation: &'static str, e: &rdkafka::error::KafkaError) -> Self {
        let retriable = e.rdkafka_error_code().is_some_and(is_retriable);
        KafkaError {
            operation,
            message: e.to_string(),
            retriable,
        }
    }

    pub(crate) fn new(operation: &'static str, message: impl Into<String>) -> Self {
        KafkaError {
            operation,
            message: message.into(),
            retriable: false,
        }
    }
}

fn is_retriable(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        code,
        C::RequestTimedOut
            | C::OperationTimedOut
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::NetworkException
            | C::RebalanceInProgress
            | C::IllegalGeneration
            | C::UnknownMemberId
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
    )
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka {} failed: {}", self.operation, self.message)
    }
}

impl std::error::Error for KafkaError {}

/// The brokers stayed unreachable longer than the configured connection timeout.
#[derive(Debug, Clone)]
pub struct BrokersUnreachable {
    /// How long they were unreachable.
    pub for_: std::time::Duration,
}

impl fmt::Display for BrokersUnreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka brokers unreachable for {:?}", self.for_)
    }
}

impl std::error::Error for BrokersUnreachable {}
