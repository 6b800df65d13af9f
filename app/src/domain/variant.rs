//! Weighted variants of string, number and JSON flags, assigned deterministically per unit.

use super::bucketing::{unit_hash, VARIANT_SEED};
use super::InvalidValue;
use serde::{Deserialize, Serialize, Serializer};

/// One value a non-boolean flag can serve, with its share of the units that get the flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// A stable name, reported with each answer (`variant` in OFREP) so that experiments can be analysed.
    pub key: String,
    /// The value served to units assigned this variant.
    pub value: serde_json::Value,
    /// Relative weight: a variant of weight 30 among weights 50/30/20 gets 30% of the units.
    pub weight: u32,
}

/// A flag's variants, checked: at least one, keys non-empty and unique, weights above zero and a total
/// that fits in a `u32`. Kept in the order given, which decides who gets what and must therefore be
/// preserved when the list is stored and reloaded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Vec<Variant>")]
pub struct Variants {
    list: Vec<Variant>,
    total_weight: u32,
}

impl Variants {
    /// The longest variant key accepted.
    pub const MAX_KEY_LEN: usize = 100;

    /// Checks a list of variants from a form, an API call or the `flags.variants` column.
    pub fn parse(list: Vec<Variant>) -> Result<Self, InvalidValue> {
        if list.is_empty() {
            return Err(InvalidValue::new("variants", "a flag with variants needs at least one"));
        }
        let mut total_weight: u32 = 0;
        for (i, variant) in list.iter().enumerate() {
            let key = variant.key.as_str();
            if key.trim().is_empty() {
                return Err(InvalidValue::new("variants", format!("variant {} has no key", i + 1)));
            }
            if key.chars().count() > Self::MAX_KEY_LEN {
                return Err(InvalidValue::new(
                    "variants",
                    format!("the variant key {key:?} is longer than {} characters", Self::MAX_KEY_LEN),
                ));
            }
            if list[..i].iter().any(|earlier| earlier.key == key) {
                return Err(InvalidValue::new("variants", format!("the variant key {key:?} is used twice")));
            }
            if variant.weight == 0 {
                return Err(InvalidValue::new(
                    "variants",
                    format!("the variant {key:?} has weight 0; remove it or give it a weight above 0"),
                ));
            }
            total_weight = total_weight.checked_add(variant.weight).ok_or_else(|| {
                InvalidValue::new("variants", format!("the weights add up to more than {}", u32::MAX))
            })?;
        }
        Ok(Self { list, total_weight })
    }

    /// The variants, in their assignment order.
    pub fn as_slice(&self) -> &[Variant] {
        &self.list
    }

    /// The sum of the weights; always above zero.
    pub fn total_weight(&self) -> u32 {
        self.total_weight
    }

    /// The variant a unit gets for this flag.
    ///
    /// `target = murmur3_x86_32("{flag_key}:{stickiness_value}", VARIANT_SEED) % total_weight`, and the unit
    /// gets the first variant whose running total of weights exceeds `target`. This is Unleash's variant
    /// assignment (`normalizedVariantValue = target + 1`, first variant with running total `>=` it). The
    /// rollout percentage takes no part, so advancing or rolling back never moves a unit between variants.
    ///
    /// A unit with no stickiness value (no customer id, say) gets the first variant: the answer has to be
    /// deterministic, and a random pick per request would flicker.
    pub fn pick(&self, flag_key: &str, stickiness_value: Option<&str>) -> &Variant {
        let Some(value) = stickiness_value else {
            return &self.list[0];
        };
        let mut target = unit_hash(flag_key, value, VARIANT_SEED) % self.total_weight;
        for variant in &self.list {
            if target < variant.weight {
                return variant;
            }
            target -= variant.weight;
        }
        // Unreachable: target < total_weight, the sum of the weights. Indexing is safe because `parse`
        // refuses an empty list.
        &self.list[self.list.len() - 1]
    }
}

impl TryFrom<Vec<Variant>> for Variants {
    type Error = InvalidValue;
    fn try_from(list: Vec<Variant>) -> Result<Self, Self::Error> {
        Self::parse(list)
    }
}

/// Serialized as the plain list, the shape of the `flags.variants` column.
impl Serialize for Variants {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.list.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variant(key: &str, weight: u32) -> Variant {
        Variant { key: key.to_owned(), value: json!(key), weight }
    }

    fn message(list: Vec<Variant>) -> String {
        Variants::parse(list).unwrap_err().message
    }

    #[test]
    fn a_list_with_unique_keys_and_positive_weights_is_accepted() {
        let variants =
            Variants::parse(vec![variant("control", 50), variant("blue", 30), variant("green", 20)]).unwrap();
        assert_eq!(variants.total_weight(), 100);
        assert_eq!(variants.as_slice().len(), 3);
    }

    #[test]
    fn an_empty_list_a_zero_weight_a_repeated_or_blank_key_and_an_overflowing_total_are_refused() {
        assert!(message(vec![]).contains("at least one"));
        assert!(message(vec![variant("a", 1), variant("b", 0)]).contains("\"b\" has weight 0"));
        assert!(message(vec![variant("a", 1), variant("a", 2)]).contains("\"a\" is used twice"));
        assert!(message(vec![variant(" ", 1)]).contains("variant 1 has no key"));
        assert!(message(vec![variant(&"k".repeat(101), 1)]).contains("longer than 100"));
        assert!(message(vec![variant("a", u32::MAX), variant("b", 1)]).contains("add up to more than"));
    }

    #[test]
    fn variants_deserialize_only_when_valid_and_serialize_as_a_list() {
        let json = r#"[{"key":"a","value":"x","weight":1},{"key":"b","value":2,"weight":3}]"#;
        let variants: Variants = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&variants).unwrap(), json);
        assert!(serde_json::from_str::<Variants>(r#"[{"key":"a","value":1,"weight":0}]"#).is_err());
    }

    #[test]
    fn weights_share_units_in_proportion() {
        let variants =
            Variants::parse(vec![variant("control", 50), variant("blue", 30), variant("green", 20)]).unwrap();
        let mut counts = [0_u32; 3];
        for i in 0..30_000 {
            let picked = variants.pick("experiment", Some(&format!("cust-{i}")));
            let index = variants.as_slice().iter().position(|v| v.key == picked.key).unwrap();
            counts[index] += 1;
        }
        // 30,000 draws: one standard deviation of a 50% share is about 87 units, so ±600 is far outside chance.
        for (count, expected) in counts.iter().zip([15_000, 9_000, 6_000]) {
            assert!(count.abs_diff(expected) < 600, "{counts:?}");
        }
    }

    #[test]
    fn a_single_variant_gets_everybody_and_no_stickiness_value_gets_the_first_variant() {
        let single = Variants::parse(vec![variant("only", 7)]).unwrap();
        assert_eq!(single.pick("f", Some("anyone")).key, "only");
        let three = Variants::parse(vec![variant("a", 1), variant("b", 1), variant("c", 1)]).unwrap();
        assert_eq!(three.pick("f", None).key, "a");
    }
}
