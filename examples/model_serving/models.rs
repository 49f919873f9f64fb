//! The models the server can serve: a PMML document or a TensorFlow graph, built from a
//! [`ModelDescriptor`] and scoring [`WineRecord`]s through [`weir::scoring::Model`].

use std::fmt;
use std::sync::Arc;

use weir::scoring::Model;

use crate::messages::{ModelDescriptor, ModelType, ScoreResult, WineRecord};
use crate::pmml::{PmmlModel, Prediction};
use crate::tensorflow::{TfModel, TfOutput};

/// A record on its way through the scoring stage: the wine and where it came from.
#[derive(Debug, Clone)]
pub struct Incoming<O> {
    pub record: WineRecord,
    pub source: crate::messages::Origin,
    /// What to commit once the result is written (a Kafka offset).
    pub offset: O,
}

/// A model ready to serve.
#[derive(Clone)]
pub struct ServingModel {
    name: String,
    description: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    /// The model, and the position in [`WineRecord::features`] of each of its active fields.
    Pmml(Arc<PmmlModel>, Arc<[usize]>),
    Tensorflow(TfModel),
}

impl fmt::Debug for ServingModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServingModel")
            .field("name", &self.name)
            .field("kind", &self.kind_name())
            .finish()
    }
}

/// Why a descriptor did not give a servable model.
#[derive(Debug, Clone)]
pub struct InvalidModel {
    pub name: String,
    pub reason: String,
}

impl fmt::Display for InvalidModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model {:?} is not servable: {}", self.name, self.reason)
    }
}

impl std::error::Error for InvalidModel {}

/// Why one record could not be scored.
#[derive(Debug, Clone)]
pub struct ScoreError(pub String);

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScoreError {}

impl ServingModel {
    /// Builds the model a descriptor carries; a model that does not parse, does not score wine,
    /// or fails on a reference record is invalid.
    pub fn build(d: &ModelDescriptor) -> Result<ServingModel, InvalidModel> {
        let invalid = |reason: String| InvalidModel {
            name: d.name.clone(),
            reason,
        };
        let kind = match d.kind() {
            Some(ModelType::Pmml) => {
                let m = PmmlModel::parse(&d.data).map_err(|e| invalid(e.to_string()))?;
                let positions = m
                    .active_fields()
                    .iter()
                    .map(|f| {
                        crate::messages::FEATURES
                            .iter()
                            .position(|name| name == f)
                            .ok_or_else(|| {
                                invalid(format!(
                                    "it needs the field {f:?}, which a wine record does not have"
                                ))
                            })
                    })
                    .collect::<Result<Arc<[usize]>, _>>()?;
                Kind::Pmml(Arc::new(m), positions)
            }
            Some(ModelType::Tensorflow) => {
                Kind::Tensorflow(TfModel::load(&d.data).map_err(|e| invalid(e.to_string()))?)
            }
            Some(ModelType::TensorflowSaved) => {
                return Err(invalid(
                    "a TensorFlow saved model is a directory, not servable from a message".into(),
                ))
            }
            None => return Err(invalid(format!("unknown model type {}", d.model_type))),
        };
        let model = ServingModel {
            name: d.name.clone(),
            description: d.description.clone(),
            kind,
        };
        // A model that cannot score a typical wine would fail every record: keep the old one.
        model
            .score_record(&reference_wine())
            .map_err(|e| invalid(format!("it fails on a reference record: {e}")))?;
        Ok(model)
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model a message from `models` carries: a descriptor, decoded and built.
    pub fn from_message(bytes: &[u8]) -> Result<ServingModel, String> {
        let descriptor = ModelDescriptor::decode(bytes).map_err(|e| e.to_string())?;
        ServingModel::build(&descriptor).map_err(|e| e.to_string())
    }

    /// "PMML RegressionModel", "TensorFlow", …
    pub fn kind_name(&self) -> String {
        match &self.kind {
            Kind::Pmml(m, _) => format!("PMML {}", m.kind()),
            Kind::Tensorflow(_) => "TensorFlow".to_owned(),
        }
    }

    /// Scores one wine. A score that is not a finite number is an error (JSON has no NaN).
    pub fn score_record(&self, r: &WineRecord) -> Result<ScoreResult, ScoreError> {
        let result = self.evaluate(r)?;
        let finite = match &result {
            ScoreResult::Score(v) => v.is_finite(),
            ScoreResult::Class { probabilities, .. } => {
                probabilities.iter().all(|(_, p)| p.is_finite())
            }
            ScoreResult::NoModel | ScoreResult::Failed(_) => true,
        };
        if finite {
            Ok(result)
        } else {
            Err(ScoreError(format!(
                "the model produced a non-finite result: {result:?}"
            )))
        }
    }

    fn evaluate(&self, r: &WineRecord) -> Result<ScoreResult, ScoreError> {
        match &self.kind {
            Kind::Pmml(m, positions) => {
                let features = r.features();
                match m.evaluate_by_position(&|i| Some(features[positions[i]])) {
                    Ok(Prediction::Regression(v)) => Ok(ScoreResult::Score(v)),
                    Ok(Prediction::Classification {
                        class,
                        probabilities,
                    }) => Ok(ScoreResult::Class {
                        class,
                        probabilities,
                    }),
                    Err(e) => Err(ScoreError(e.to_string())),
                }
            }
            Kind::Tensorflow(m) => {
                let f = r.features().map(|x| x as f32);
                match m.score(&f) {
                    Ok(TfOutput::Regression(v)) => Ok(ScoreResult::Score(v)),
                    Ok(TfOutput::Classification { class, scores }) => Ok(ScoreResult::Class {
                        class: class.to_string(),
                        probabilities: scores
                            .into_iter()
                            .enumerate()
                            .map(|(i, s)| (i.to_string(), s))
                            .collect(),
                    }),
                    Err(e) => Err(ScoreError(e.to_string())),
                }
            }
        }
    }
}

impl<O: Send + 'static> Model<Incoming<O>> for ServingModel {
    type Output = ScoreResult;
    type Error = ScoreError;

    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn score(&self, r: &Incoming<O>) -> Result<ScoreResult, ScoreError> {
        self.score_record(&r.record)
    }
}

/// The first wine of the data set: a record every wine model must score.
fn reference_wine() -> WineRecord {
    WineRecord::from_csv_line("7.4;0.7;0;1.9;0.076;11;34;0.9978;3.51;0.56;9.4;5")
        .unwrap_or_default()
}

/// The models of the tutorial, in the order the embedded publisher cycles through them.
pub fn bundled() -> Vec<ModelDescriptor> {
    macro_rules! model {
        ($file:literal, $ty:expr, $desc:literal) => {
            ModelDescriptor::new(
                $file.split('.').next().unwrap_or($file),
                $desc,
                $ty,
                include_bytes!(concat!("data/", $file)).to_vec(),
            )
        };
    }
    vec![
        model!(
            "winequalityLinearRegression.pmml",
            ModelType::Pmml,
            "linear regression (PMML RegressionModel)"
        ),
        model!(
            "winequalityDesisionTreeRegression.pmml",
            ModelType::Pmml,
            "decision tree regression (PMML TreeModel)"
        ),
        model!(
            "winequalityDecisionTreeClassification.pmml",
            ModelType::Pmml,
            "decision tree classification (PMML TreeModel)"
        ),
        model!(
            "winequalityGeneralizedLinearRegressionGaussian.pmml",
            ModelType::Pmml,
            "generalized linear regression, Gaussian (PMML GeneralRegressionModel)"
        ),
        model!(
            "winequalityGeneralizedLinearRegressionGamma.pmml",
            ModelType::Pmml,
            "generalized linear regression, Gamma (PMML GeneralRegressionModel)"
        ),
        model!(
            "winequalityRandonForrestClassification.pmml",
            ModelType::Pmml,
            "random forest classification (PMML MiningModel)"
        ),
        model!(
            "winequalityMultilayerPerceptron.pmml",
            ModelType::Pmml,
            "multilayer perceptron classification (PMML NeuralNetwork)"
        ),
        model!(
            "optimized_WineQuality.pb",
            ModelType::Tensorflow,
            "dense network classification (TensorFlow graph)"
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_model_builds_and_scores_the_first_wine() {
        let wine = reference_wine();
        let models = bundled();
        assert_eq!(models.len(), 8);
        for d in &models {
            let m = ServingModel::build(d).unwrap_or_else(|e| panic!("{e}"));
            match m.score_record(&wine).unwrap() {
                ScoreResult::Score(v) => assert!((3.0..=8.0).contains(&v), "{}: {v}", d.name),
                ScoreResult::Class { class, .. } => {
                    assert!(["5", "6"].contains(&class.as_str()), "{}: {class}", d.name)
                }
                other => panic!("{}: {other:?}", d.name),
            }
        }
    }

    #[test]
    fn invalid_models_are_rejected_with_their_name() {
        let broken = ModelDescriptor::new("broken", "", ModelType::Pmml, b"<PMML".to_vec());
        let e = ServingModel::build(&broken).unwrap_err();
        assert_eq!(e.name, "broken");
        let garbage = ModelDescriptor::new("tf", "", ModelType::Tensorflow, vec![1, 2, 3]);
        assert!(ServingModel::build(&garbage).is_err());
        let saved = ModelDescriptor::new("saved", "", ModelType::TensorflowSaved, vec![]);
        assert!(ServingModel::build(&saved).is_err());
        // A valid PMML model over a field a wine does not have.
        let other = String::from_utf8(bundled()[0].data.clone())
            .unwrap()
            .replace("\"alcohol\"", "\"sugar content\"");
        let e = ServingModel::build(&ModelDescriptor::new(
            "other",
            "",
            ModelType::Pmml,
            other.into_bytes(),
        ))
        .unwrap_err();
        assert!(e.reason.contains("sugar content"), "{e}");
    }
}
