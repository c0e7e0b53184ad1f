//! Parsing `--nemesis` lists.

use workloads::{parse_presets, presets_to_string, Preset};

#[test]
fn every_name_round_trips() {
    for preset in Preset::ALL {
        assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
        assert_eq!(preset.to_string(), preset.name());
    }
    assert_eq!(
        "Partition_Leader".parse::<Preset>(),
        Ok(Preset::PartitionLeader)
    );
}

#[test]
fn comma_list_is_parsed_in_order() {
    let presets = parse_presets("kill,partition-leader, flapping").unwrap();
    assert_eq!(
        presets,
        vec![Preset::Kill, Preset::PartitionLeader, Preset::Flapping]
    );
    assert_eq!(
        presets_to_string(&presets),
        "kill,partition-leader,flapping"
    );
    assert_eq!(parse_presets("").unwrap(), vec![Preset::None]);
}

#[test]
fn bad_name_lists_every_valid_name() {
    let error = parse_presets("kill,partiton").unwrap_err();
    assert_eq!(error.name, "partiton");
    let message = error.to_string();
    assert!(message.contains("\"partiton\""), "{message}");
    for preset in Preset::ALL {
        assert!(message.contains(preset.name()), "{message} lacks {preset}");
    }
    assert!("".parse::<Preset>().is_err());
}

#[test]
fn mixed_covers_every_family_and_none_covers_nothing() {
    assert_eq!(Preset::Mixed.families(), &Preset::FAMILIES);
    assert!(Preset::None.families().is_empty());
    for family in Preset::FAMILIES {
        assert_eq!(family.families(), &[family]);
    }
}
