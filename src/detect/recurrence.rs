//! Which boundaries recur across the sweep points of one detect step (the seeds of a study):
//! boundaries of the same kind whose intervals lie within one checkpoint interval of each
//! other, counted once per sweep point.

use serde::Serialize;

use super::boundary::Boundary;

/// A boundary found at several sweep points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recurring {
    pub kind: String,
    /// The steps spanned by the recurring boundaries' intervals.
    pub interval: [i64; 2],
    /// The sweep points (their index among those given) where it was found.
    pub points: Vec<usize>,
    /// The interval of the first boundary of the group, which the others must touch (so a
    /// group cannot creep along a run of neighbouring boundaries).
    #[serde(skip)]
    core: [i64; 2],
}

/// Groups the boundaries of every sweep point (`points[p]`): a boundary joins a group of its
/// kind, not yet holding its sweep point, when its interval is the group's first or next to it
/// (sharing a checkpoint). Groups are returned by how many sweep points share
/// them, most first; a group seen at one sweep point only is left out.
pub fn recurring(points: &[Vec<Boundary>]) -> Vec<Recurring> {
    let mut groups: Vec<Recurring> = Vec::new();
    for (p, boundaries) in points.iter().enumerate() {
        for boundary in boundaries {
            // The same interval or a neighbouring one (they share a checkpoint).
            let [low, high] = boundary.interval;
            let near = groups.iter_mut().find(|g| {
                g.kind == boundary.kind
                    && g.core[0] <= high
                    && g.core[1] >= low
                    && !g.points.contains(&p)
            });
            match near {
                Some(group) => {
                    group.interval[0] = group.interval[0].min(boundary.interval[0]);
                    group.interval[1] = group.interval[1].max(boundary.interval[1]);
                    group.points.push(p);
                }
                None => groups.push(Recurring {
                    kind: boundary.kind.clone(),
                    interval: boundary.interval,
                    points: vec![p],
                    core: boundary.interval,
                }),
            }
        }
    }
    groups.retain(|g| g.points.len() > 1);
    groups.sort_by(|a, b| b.points.len().cmp(&a.points.len()).then(a.interval.cmp(&b.interval)));
    groups
}

#[cfg(test)]
mod tests {
    use super::recurring;
    use crate::detect::boundary::Boundary;

    fn at(steps: &[i64], index: usize, kind: &str) -> Boundary {
        Boundary {
            index,
            interval: [steps[index - 1], steps[index]],
            kind: kind.into(),
            strength: 1.0,
            evidence: String::new(),
        }
    }

    #[test]
    fn boundaries_one_interval_apart_recur_and_others_do_not() {
        let steps: Vec<i64> = (1..=10).map(|i| i * 100).collect();
        let points = vec![
            vec![at(&steps, 3, "development"), at(&steps, 8, "refinement")],
            // One interval later: the same boundary. Two intervals earlier: another.
            vec![at(&steps, 4, "development"), at(&steps, 6, "refinement")],
            // Same place, other kind: not the same boundary.
            vec![at(&steps, 3, "plateau"), at(&steps, 8, "refinement")],
        ];
        let found = recurring(&points);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            (found[0].kind.as_str(), found[0].interval, found[0].points.clone()),
            ("development", [300, 500], vec![0, 1])
        );
        assert_eq!(
            (found[1].kind.as_str(), found[1].interval, found[1].points.clone()),
            ("refinement", [800, 900], vec![0, 2])
        );
    }
}
