//! The revision graph, with Alembic's semantics.
//!
//! The reference behaviour is Alembic's `alembic/script/revision.py`
//! (`RevisionMap`): which revisions are heads and bases, how branch labels
//! spread, how identifiers resolve (`head`, `heads`, `base`, prefixes,
//! `label@head`, `+N`, `-N`, `rev@+N`), and the order in which an upgrade or
//! a downgrade runs its revisions. The order is deterministic for a given load
//! order (file names sorted), and kiln reproduces it step for step: the
//! `oracle` test replays cases recorded from the real Alembic.
//!
//! Revisions are identified by their index in load order ([`RevIdx`]); every
//! set is a sorted, de-duplicated `Vec<RevIdx>` or a bitmap, never a hash set,
//! so results never depend on a hash seed.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Index of a revision in load order.
pub type RevIdx = usize;

/// One revision as the graph needs it: ids only, no SQL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSpec {
    /// The revision id.
    pub id: String,
    /// Parents (`Revises`): none for a base, several for a merge.
    pub down_revisions: Vec<String>,
    /// Extra dependencies (`Depends On`): revision ids or branch labels.
    pub depends_on: Vec<String>,
    /// Branch labels declared on this revision.
    pub branch_labels: Vec<String>,
}

/// Why a set of revisions does not form a valid graph.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphError {
    /// Two revisions share an id; the second is ignored.
    DuplicateId {
        /// The id.
        id: String,
        /// The revision kept.
        first: RevIdx,
        /// The duplicate.
        second: RevIdx,
    },
    /// `Revises` or `Depends On` names something that does not exist.
    MissingRevision {
        /// The revision that names it.
        revision: RevIdx,
        /// The unknown id or label.
        missing: String,
        /// True when it came from `Depends On`.
        dependency: bool,
    },
    /// A revision revises or depends on itself.
    SelfLoop {
        /// The revision.
        revision: RevIdx,
        /// True when through `Depends On`.
        dependency: bool,
    },
    /// The revisions form a cycle; these are its members.
    Cycle {
        /// Members of the cycle, in load order.
        revisions: Vec<RevIdx>,
    },
    /// A branch label is already used as a label or a revision id.
    DuplicateLabel {
        /// The label.
        label: String,
        /// The revision declaring it a second time.
        revision: RevIdx,
        /// The revision that already uses the name.
        existing: RevIdx,
    },
}

/// Why an identifier could not be resolved or a plan could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    /// `head` (or `label@head`) names several heads.
    MultipleHeads {
        /// What was asked for.
        argument: String,
        /// The heads it names.
        heads: Vec<String>,
    },
    /// No revision or branch has this id or prefix.
    UnknownRevision {
        /// What was asked for.
        identifier: String,
    },
    /// A prefix matches several revisions.
    AmbiguousPrefix {
        /// The prefix.
        prefix: String,
        /// The revisions it matches.
        candidates: Vec<String>,
    },
    /// No such branch label.
    UnknownBranch {
        /// The label.
        label: String,
    },
    /// `label@rev` where `rev` is not on that branch.
    NotOnBranch {
        /// The revision.
        revision: String,
        /// The branch label.
        branch: String,
    },
    /// `+N` or `-N` goes past the end of the graph.
    RelativeOutOfRange {
        /// The relative part, as given (`+2`).
        relative: String,
    },
    /// A relative walk from a named revision goes past the end of the graph.
    WalkedTooFar,
    /// A relative walk meets a branch point or a merge and cannot choose.
    AmbiguousWalk,
    /// `+N` from several current heads.
    AmbiguousUpgrade,
    /// The destination is not reachable in this direction from the current heads.
    NotAncestor {
        /// The destination, as given.
        destination: String,
        /// True for an upgrade, false for a downgrade.
        upgrade: bool,
    },
    /// Several requested revisions are ancestors of each other.
    Overlap {
        /// The revision.
        revision: String,
        /// The revisions it overlaps with.
        others: Vec<String>,
    },
    /// A branch-qualified downgrade target does not match the current heads.
    NotValidDowngradeTarget,
    /// `label@-N` from the current rows, when none of them (or several)
    /// lies on the label's branch: there is no one revision to step down from.
    BranchStart {
        /// The branch label.
        label: String,
        /// The version table's rows.
        current: Vec<String>,
        /// The current revisions on that branch (empty when none).
        on_branch: Vec<String>,
    },
    /// A history range whose revisions do not all descend from its lower
    /// end through `Revises` (some only depend on it): it cannot be walked
    /// in order (Alembic fails on an assertion there).
    RangeNotWalkable {
        /// The lower end, as given (or the current rows).
        lower: String,
        /// The upper end, as given.
        upper: String,
    },
    /// A step could not be applied to the version table as it stands.
    VersionTable {
        /// What went wrong.
        message: String,
    },
}

/// Revisions are named by their position in load order (file names sorted),
/// the index `Graph::build` was given them in; `kiln_core::validate` turns
/// these into diagnostics that name the files.
///
/// ```
/// let e = kiln_core::graph::GraphError::Cycle { revisions: vec![0, 2] };
/// assert_eq!(e.to_string(), "revisions #0, #2 form a cycle");
/// ```
impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = |dependency: &bool| if *dependency { "depends on" } else { "revises" };
        match self {
            GraphError::DuplicateId { id, first, second } => write!(f, "revisions #{first} and #{second} share the id `{id}`"),
            GraphError::MissingRevision { revision, missing, dependency } => {
                write!(f, "revision #{revision} {} `{missing}`, which does not exist", via(dependency))
            }
            GraphError::SelfLoop { revision, dependency } => write!(f, "revision #{revision} {} itself", via(dependency)),
            GraphError::Cycle { revisions } => {
                write!(f, "revisions {} form a cycle", revisions.iter().map(|r| format!("#{r}")).collect::<Vec<_>>().join(", "))
            }
            GraphError::DuplicateLabel { label, revision, existing } => {
                write!(f, "revision #{revision} declares branch label `{label}`, already used by revision #{existing}")
            }
        }
    }
}

impl std::error::Error for GraphError {}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::MultipleHeads { argument, heads } => write!(
                f,
                "`{argument}` is ambiguous: there are several heads ({}); name one of them, use `<label>@head`, or `heads` for all",
                heads.join(", ")
            ),
            PlanError::UnknownRevision { identifier } if identifier.len() < 4 => {
                write!(f, "no revision or branch `{identifier}`; a partial revision id needs at least four characters")
            }
            PlanError::UnknownRevision { identifier } => write!(f, "no revision or branch `{identifier}`"),
            PlanError::AmbiguousPrefix { prefix, candidates } => {
                write!(f, "several revisions start with `{prefix}`: {}; give more characters", candidates.join(", "))
            }
            PlanError::UnknownBranch { label } => write!(f, "no branch `{label}`"),
            PlanError::NotOnBranch { revision, branch } => {
                write!(f, "revision `{revision}` is not on branch `{branch}`")
            }
            PlanError::RelativeOutOfRange { relative } => {
                write!(f, "relative revision {relative} does not produce {} migrations", relative.trim_start_matches(['+', '-']))
            }
            PlanError::WalkedTooFar => write!(f, "the relative walk goes past the end of the revision graph"),
            PlanError::AmbiguousWalk => write!(f, "the relative walk meets a branch point or a merge; name the revision instead"),
            PlanError::AmbiguousUpgrade => {
                write!(f, "relative upgrade from several current heads is ambiguous; use `<label>@+N` or name the revision")
            }
            PlanError::NotAncestor { destination, upgrade } => write!(
                f,
                "`{destination}` is not a valid {} target from the current head(s)",
                if *upgrade { "upgrade" } else { "downgrade" }
            ),
            PlanError::Overlap { revision, others } => {
                write!(f, "requested revision `{revision}` overlaps with other requested revisions {}", others.join(", "))
            }
            PlanError::NotValidDowngradeTarget => {
                write!(f, "not a valid downgrade target from the current heads")
            }
            PlanError::BranchStart { label, current, on_branch } if on_branch.is_empty() => write!(
                f,
                "no current revision is on branch `{label}` (current: {}), so `{label}@-N` has nothing to step down from; \
                 name the revision to go to instead",
                if current.is_empty() { "none".to_string() } else { current.join(", ") }
            ),
            PlanError::BranchStart { label, on_branch, .. } => write!(
                f,
                "several current revisions are on branch `{label}` ({}), so `{label}@-N` does not say which to step down from; \
                 name the revision to go to instead",
                on_branch.join(", ")
            ),
            PlanError::RangeNotWalkable { lower, upper } => write!(
                f,
                "the range `{lower}:{upper}` holds revisions that depend on `{lower}` without descending from it \
                 (through `Depends On`), so it cannot be listed in order; list the whole history, or a range along one branch"
            ),
            PlanError::VersionTable { message } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for PlanError {}

/// A change to the version table (`alembic_version`) made by one step.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VersionOp {
    /// `INSERT` a row.
    Insert(String),
    /// `DELETE` a row.
    Delete(String),
    /// `UPDATE` a row from one id to another.
    Update(String, String),
}

/// Upgrade or downgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Runs a revision's upgrade section.
    Up,
    /// Runs a revision's downgrade section.
    Down,
}

impl Direction {
    /// `upgrade` or `downgrade`: the command's name, and how kiln's history
    /// table spells the direction (a stored spelling).
    ///
    /// ```
    /// assert_eq!(kiln_core::Direction::Down.as_str(), "downgrade");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "upgrade",
            Direction::Down => "downgrade",
        }
    }
}

/// One revision run in one direction, with its version-table bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Up or down.
    pub direction: Direction,
    /// The revision.
    pub revision: RevIdx,
    /// What happens to the version table, in order.
    pub version_ops: Vec<VersionOp>,
    /// The version table's rows after this step, sorted.
    pub heads_after: Vec<String>,
}

/// An ordered list of steps from one set of heads to another.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
    /// The version table's rows at the end, sorted.
    pub heads_after: Vec<String>,
}

#[derive(Clone, Debug)]
struct Node {
    id: String,
    /// Versioned parents (`Revises`), declared order.
    down: Vec<RevIdx>,
    /// `Depends On`, resolved to revisions, declared order.
    deps: Vec<RevIdx>,
    /// `deps` without those an ancestor already depends on.
    norm_deps: Vec<RevIdx>,
    /// `down` + `deps`, de-duplicated.
    all_down: Vec<RevIdx>,
    /// `down` + `norm_deps`, de-duplicated.
    norm_down: Vec<RevIdx>,
    /// Children through `Revises`.
    next: Vec<RevIdx>,
    /// Children through `Revises` or `Depends On`.
    all_next: Vec<RevIdx>,
    own_labels: Vec<String>,
    labels: BTreeSet<String>,
}

#[derive(Clone, Copy)]
enum Edge {
    Down,
    NormDown,
    Next,
    AllNext,
}

/// A place in the graph reached by a relative walk or a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Below every base (Alembic's `None`).
    Nothing,
    /// Alembic's `"base"` marker returned by walking below a base.
    Base,
    Rev(RevIdx),
}

/// The current state a plan starts from: the version table's rows, or a symbol.
enum Lower<'a> {
    Heads(&'a [String]),
    Symbol(&'a str),
}

/// A validated revision graph.
#[derive(Clone, Debug)]
pub struct Graph {
    nodes: Vec<Node>,
    /// Revision ids, then branch labels, to revisions.
    keys: HashMap<String, RevIdx>,
    /// Branch labels in the order they were declared, for prefix matching.
    label_keys: Vec<String>,
    heads: Vec<RevIdx>,
    real_heads: Vec<RevIdx>,
    bases: Vec<RevIdx>,
}

fn dedup_push(v: &mut Vec<RevIdx>, x: RevIdx) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Graph {
    /// Builds the graph from revisions in load order (file names sorted).
    ///
    /// Every problem is returned, not only the first.
    pub fn build(specs: &[NodeSpec]) -> Result<Graph, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut keys: HashMap<String, RevIdx> = HashMap::with_capacity(specs.len());
        let mut nodes: Vec<Node> = Vec::with_capacity(specs.len());
        // Index in `specs` of each node, to report errors against the input.
        let mut origin: Vec<usize> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            if let Some(&first) = keys.get(&spec.id) {
                errors.push(GraphError::DuplicateId { id: spec.id.clone(), first: origin[first], second: i });
                continue;
            }
            if spec.down_revisions.contains(&spec.id) {
                errors.push(GraphError::SelfLoop { revision: i, dependency: false });
            }
            if spec.depends_on.contains(&spec.id) {
                errors.push(GraphError::SelfLoop { revision: i, dependency: true });
            }
            keys.insert(spec.id.clone(), nodes.len());
            origin.push(i);
            nodes.push(Node {
                id: spec.id.clone(),
                down: Vec::new(),
                deps: Vec::new(),
                norm_deps: Vec::new(),
                all_down: Vec::new(),
                norm_down: Vec::new(),
                next: Vec::new(),
                all_next: Vec::new(),
                own_labels: spec.branch_labels.clone(),
                labels: BTreeSet::new(),
            });
        }
        let mut label_keys = Vec::new();
        for n in 0..nodes.len() {
            for label in nodes[n].own_labels.clone() {
                if let Some(&existing) = keys.get(&label) {
                    errors.push(GraphError::DuplicateLabel { label, revision: origin[n], existing: origin[existing] });
                } else {
                    keys.insert(label.clone(), n);
                    label_keys.push(label);
                }
            }
        }
        for n in 0..nodes.len() {
            let spec = &specs[origin[n]];
            for dep in &spec.depends_on {
                match keys.get(dep) {
                    Some(&d) if d != n => dedup_push(&mut nodes[n].deps, d),
                    Some(_) => {}
                    None => errors.push(GraphError::MissingRevision { revision: origin[n], missing: dep.clone(), dependency: true }),
                }
            }
            for down in &spec.down_revisions {
                // Parents are revision ids; a label there breaks Alembic's own map.
                match keys.get(down).filter(|&&d| nodes[d].id == *down) {
                    Some(&d) if d != n => dedup_push(&mut nodes[n].down, d),
                    Some(_) => {}
                    None => errors.push(GraphError::MissingRevision { revision: origin[n], missing: down.clone(), dependency: false }),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for n in 0..nodes.len() {
            let mut all_down = nodes[n].down.clone();
            for &d in &nodes[n].deps.clone() {
                dedup_push(&mut all_down, d);
            }
            for &d in &all_down {
                dedup_push(&mut nodes[d].all_next, n);
                if nodes[n].down.contains(&d) {
                    dedup_push(&mut nodes[d].next, n);
                }
            }
            nodes[n].all_down = all_down;
        }
        let cycle = find_cycle_members(&nodes);
        if !cycle.is_empty() {
            return Err(vec![GraphError::Cycle { revisions: cycle.into_iter().map(|n| origin[n]).collect() }]);
        }
        let heads = (0..nodes.len()).filter(|&n| nodes[n].next.is_empty()).collect();
        let real_heads = (0..nodes.len()).filter(|&n| nodes[n].all_next.is_empty()).collect();
        let bases = (0..nodes.len()).filter(|&n| nodes[n].down.is_empty()).collect();
        let mut graph = Graph { nodes, keys, label_keys, heads, real_heads, bases };
        graph.normalize_depends_on();
        graph.spread_branch_labels();
        Ok(graph)
    }

    /// Drops from each revision's dependencies those that one of its
    /// ancestors already depends on (Alembic's `_normalize_depends_on`).
    fn normalize_depends_on(&mut self) {
        for n in 0..self.nodes.len() {
            if self.nodes[n].deps.is_empty() {
                continue;
            }
            let mut keep = self.nodes[n].deps.clone();
            for a in self.related(&[n], Edge::Down) {
                if a != n {
                    keep.retain(|d| !self.nodes[a].deps.contains(d));
                }
            }
            self.nodes[n].norm_deps = keep;
        }
        for n in 0..self.nodes.len() {
            let mut norm_down = self.nodes[n].down.clone();
            for d in self.nodes[n].norm_deps.clone() {
                dedup_push(&mut norm_down, d);
            }
            self.nodes[n].norm_down = norm_down;
        }
    }

    /// A label applies to its revision, every descendant, and the ancestors
    /// below it down to the nearest branch point or merge (Alembic's `_add_branches`).
    fn spread_branch_labels(&mut self) {
        for n in 0..self.nodes.len() {
            let labels = self.nodes[n].own_labels.clone();
            if labels.is_empty() {
                continue;
            }
            let descendants = self.related(&[n], Edge::Next);
            for &d in &descendants {
                self.nodes[d].labels.extend(labels.iter().cloned());
            }
            let mut parent = *descendants.last().expect("a revision is its own descendant");
            loop {
                let node = &self.nodes[parent];
                if node.all_next.len() > 1 || node.down.len() > 1 {
                    break;
                }
                self.nodes[parent].labels.extend(labels.iter().cloned());
                match self.nodes[parent].down.first() {
                    Some(&p) => parent = p,
                    None => break,
                }
            }
        }
    }

    /// Number of revisions.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for an empty graph.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The id of a revision.
    pub fn id(&self, rev: RevIdx) -> &str {
        &self.nodes[rev].id
    }

    /// The revision with exactly this id.
    pub fn index_of(&self, id: &str) -> Option<RevIdx> {
        self.keys.get(id).copied().filter(|&n| self.nodes[n].id == id)
    }

    /// Parents through `Revises`.
    pub fn parents(&self, rev: RevIdx) -> &[RevIdx] {
        &self.nodes[rev].down
    }

    /// Children through `Revises`.
    pub fn children(&self, rev: RevIdx) -> &[RevIdx] {
        &self.nodes[rev].next
    }

    /// `Depends On`, resolved to revisions.
    pub fn dependencies(&self, rev: RevIdx) -> &[RevIdx] {
        &self.nodes[rev].deps
    }

    /// Branch labels of a revision, including those spread from other revisions.
    pub fn branch_labels(&self, rev: RevIdx) -> impl Iterator<Item = &str> {
        self.nodes[rev].labels.iter().map(String::as_str)
    }

    /// Heads over `Revises` edges only, in load order (`kiln heads`).
    pub fn heads(&self) -> &[RevIdx] {
        &self.heads
    }

    /// Heads that nothing revises or depends on (what `heads` resolves to).
    pub fn real_heads(&self) -> &[RevIdx] {
        &self.real_heads
    }

    /// Revisions without a parent, in load order.
    pub fn bases(&self) -> &[RevIdx] {
        &self.bases
    }

    /// The revisions applied when `revs` are: `revs` and everything they
    /// revise or depend on, transitively, as a membership vector by index.
    pub fn applied_with(&self, revs: &[RevIdx]) -> Vec<bool> {
        self.mark(&self.related(revs, Edge::NormDown))
    }

    /// True when `ancestor` must be applied before `rev` (through `Revises`
    /// or `Depends On`, transitively); false for the revision itself.
    pub fn is_ancestor(&self, ancestor: RevIdx, rev: RevIdx) -> bool {
        ancestor != rev && self.applied_with(&[rev])[ancestor]
    }

    /// `revs` and every revision that revises them, transitively, as a
    /// membership vector by index.
    pub fn descendants_with(&self, revs: &[RevIdx]) -> Vec<bool> {
        self.mark(&self.related(revs, Edge::Next))
    }

    /// True when more than one revision revises this one.
    pub fn is_branch_point(&self, rev: RevIdx) -> bool {
        self.nodes[rev].next.len() > 1
    }

    /// True when this revision has several parents.
    pub fn is_merge_point(&self, rev: RevIdx) -> bool {
        self.nodes[rev].down.len() > 1
    }

    fn edges(&self, n: RevIdx, edge: Edge) -> &[RevIdx] {
        let node = &self.nodes[n];
        match edge {
            Edge::Down => &node.down,
            Edge::NormDown => &node.norm_down,
            Edge::Next => &node.next,
            Edge::AllNext => &node.all_next,
        }
    }

    /// Every revision reachable from `targets` along `edge`, targets included,
    /// in Alembic's visiting order (a stack).
    fn related(&self, targets: &[RevIdx], edge: Edge) -> Vec<RevIdx> {
        self.related_checked(targets, edge, false).expect("unchecked traversal cannot fail")
    }

    /// As [`Self::related`]; with `check`, fails when one target is reached
    /// from another, as Alembic's `_iterate_related_revisions(check=True)`.
    fn related_checked(&self, targets: &[RevIdx], edge: Edge, check: bool) -> Result<Vec<RevIdx>, PlanError> {
        let mut seen = vec![false; self.nodes.len()];
        let mut out = Vec::new();
        let mut todo = Vec::new();
        for &target in targets {
            todo.push(target);
            let mut per_target = Vec::new();
            while let Some(rev) = todo.pop() {
                if check {
                    per_target.push(rev);
                }
                if seen[rev] {
                    continue;
                }
                seen[rev] = true;
                todo.extend_from_slice(self.edges(rev, edge));
                out.push(rev);
            }
            if check {
                let mut overlaps: Vec<RevIdx> = per_target.into_iter().filter(|r| *r != target && targets.contains(r)).collect();
                overlaps.sort_unstable();
                overlaps.dedup();
                if !overlaps.is_empty() {
                    return Err(PlanError::Overlap {
                        revision: self.nodes[target].id.clone(),
                        others: overlaps.iter().map(|&r| self.nodes[r].id.clone()).collect(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn mark(&self, revs: &[RevIdx]) -> Vec<bool> {
        let mut m = vec![false; self.nodes.len()];
        for &r in revs {
            m[r] = true;
        }
        m
    }

    fn ancestors(&self, targets: &[RevIdx], include_dependencies: bool) -> Vec<RevIdx> {
        self.related(targets, if include_dependencies { Edge::NormDown } else { Edge::Down })
    }

    fn descendants(&self, targets: &[RevIdx], include_dependencies: bool) -> Vec<RevIdx> {
        self.related(targets, if include_dependencies { Edge::AllNext } else { Edge::Next })
    }

    /// True when `target` is an ancestor or a descendant of one of `against` (or is one).
    fn shares_lineage(&self, target: RevIdx, against: &[RevIdx], include_dependencies: bool) -> bool {
        if against.is_empty() {
            return true;
        }
        let wanted = self.mark(against);
        self.descendants(&[target], include_dependencies)
            .into_iter()
            .chain(self.ancestors(&[target], include_dependencies))
            .any(|r| wanted[r])
    }

    /// Alembic's `filter_for_lineage`: the targets that share lineage with `check_against`.
    fn filter_for_lineage(&self, targets: &[RevIdx], check_against: &str, include_dependencies: bool) -> Result<Vec<RevIdx>, PlanError> {
        let (ids, branch) = self.resolve_number(Some(check_against))?;
        let mut shares = Vec::new();
        for ident in branch.iter().chain(ids.iter()) {
            shares.push(self.revision_for_ident(ident, None)?);
        }
        Ok(targets.iter().copied().filter(|&t| self.shares_lineage(t, &shares, include_dependencies)).collect())
    }

    /// Alembic's `_resolve_revision_number`: symbols to identifiers, and the branch label.
    fn resolve_number(&self, ident: Option<&str>) -> Result<(Vec<String>, Option<String>), PlanError> {
        let (branch, id) = match ident {
            Some(s) => match s.split_once('@') {
                Some((b, rest)) => ((!b.is_empty()).then(|| b.to_string()), Some(rest)),
                None => (None, Some(s)),
            },
            None => (None, None),
        };
        let ids = match id {
            Some("heads") => match &branch {
                Some(b) => self.filter_for_lineage(&self.heads, b, false)?.iter().map(|&r| self.id(r).to_string()).collect(),
                None => self.real_heads.iter().map(|&r| self.id(r).to_string()).collect(),
            },
            Some("head") => self.current_head(branch.as_deref())?.map(|r| self.id(r).to_string()).into_iter().collect(),
            Some("base") | None => Vec::new(),
            Some(other) => vec![other.to_string()],
        };
        Ok((ids, branch))
    }

    /// The single head, optionally within a branch.
    fn current_head(&self, branch: Option<&str>) -> Result<Option<RevIdx>, PlanError> {
        let heads = match branch {
            Some(b) => self.filter_for_lineage(&self.heads, b, false)?,
            None => self.heads.clone(),
        };
        if heads.len() > 1 {
            return Err(PlanError::MultipleHeads {
                argument: branch.map_or_else(|| "head".to_string(), |b| format!("{b}@head")),
                heads: heads.iter().map(|&r| self.id(r).to_string()).collect(),
            });
        }
        Ok(heads.first().copied())
    }

    fn resolve_branch(&self, label: &str) -> Result<RevIdx, PlanError> {
        if let Some(&r) = self.keys.get(label) {
            return Ok(r);
        }
        self.revision_for_ident(label, None).map_err(|_| PlanError::UnknownBranch { label: label.to_string() })
    }

    /// Alembic's `_revision_for_ident`: an exact id or label, else a unique prefix
    /// of at least four characters, optionally checked against a branch.
    fn revision_for_ident(&self, ident: &str, check_branch: Option<&str>) -> Result<RevIdx, PlanError> {
        let branch_rev = check_branch.map(|b| self.resolve_branch(b)).transpose()?;
        let rev = match self.keys.get(ident) {
            Some(&r) => r,
            None => {
                let all_keys = self.nodes.iter().map(|n| n.id.as_str()).chain(self.label_keys.iter().map(String::as_str));
                let mut candidates: Vec<(RevIdx, &str)> = all_keys
                    .filter(|key| !ident.is_empty() && key.len() > 3 && key.starts_with(ident))
                    .map(|key| (self.keys[key], key))
                    .collect();
                if let Some(b) = check_branch {
                    let revs: Vec<RevIdx> = candidates.iter().map(|c| c.0).collect();
                    let keep = self.filter_for_lineage(&revs, b, false)?;
                    candidates.retain(|c| keep.contains(&c.0));
                }
                match candidates.as_slice() {
                    [] => return Err(PlanError::UnknownRevision { identifier: ident.to_string() }),
                    [(one, _)] => *one,
                    _ => {
                        let names = candidates.iter().map(|c| c.1.to_string()).collect();
                        return Err(PlanError::AmbiguousPrefix { prefix: ident.to_string(), candidates: names });
                    }
                }
            }
        };
        if let (Some(b), Some(br)) = (check_branch, branch_rev) {
            if !self.shares_lineage(rev, &[br], false) {
                return Err(PlanError::NotOnBranch { revision: self.id(rev).to_string(), branch: b.to_string() });
            }
        }
        Ok(rev)
    }

    /// Alembic's `get_revisions` for one identifier.
    fn slots(&self, ident: Option<&str>) -> Result<Vec<Slot>, PlanError> {
        let (ids, branch) = self.resolve_number(ident)?;
        if ids.len() == 1 {
            if let Some(steps) = parse_negative_int(&ids[0]) {
                let mut heads: Vec<RevIdx> = self.real_heads.clone();
                if let Some(b) = &branch {
                    heads.retain(|&h| self.nodes[h].labels.contains(b));
                }
                return heads.into_iter().map(|h| Ok(self.walk(Slot::Rev(h), steps, None, true)?.unwrap_or(Slot::Nothing))).collect();
            }
        }
        ids.iter().map(|id| self.revision_for_ident(id, branch.as_deref()).map(Slot::Rev)).collect()
    }

    /// `slots` for each element of a sequence of identifiers, concatenated.
    fn slots_of_all(&self, idents: &[String]) -> Result<Vec<Slot>, PlanError> {
        let mut out = Vec::new();
        for i in idents {
            out.extend(self.slots(Some(i))?);
        }
        Ok(out)
    }

    /// Alembic's `get_revision`: at most one revision.
    fn slot(&self, ident: Option<&str>) -> Result<Slot, PlanError> {
        let (ids, branch) = self.resolve_number(ident)?;
        if ids.len() > 1 {
            return Err(PlanError::MultipleHeads { argument: ident.unwrap_or("").to_string(), heads: ids });
        }
        match ids.first() {
            Some(id) => Ok(Slot::Rev(self.revision_for_ident(id, branch.as_deref())?)),
            None => {
                if let Some(b) = &branch {
                    self.resolve_branch(b)?;
                }
                Ok(Slot::Nothing)
            }
        }
    }

    /// The revisions an identifier names in Alembic's `get_revisions` order,
    /// as `show` lists them: `-N` and `label@-N` walk N steps down from each
    /// head (of the label's branch) in load order, so a revision two heads
    /// share comes twice; a walk below a base is an error (Alembic crashes
    /// there), as is one through a merge.
    pub fn get_revisions(&self, ident: &str) -> Result<Vec<RevIdx>, PlanError> {
        self.slots(Some(ident))?
            .into_iter()
            .map(|s| match s {
                Slot::Rev(r) => Ok(r),
                // Only a relative walk gives anything but a revision.
                Slot::Base | Slot::Nothing => Err(PlanError::WalkedTooFar),
            })
            .collect()
    }

    /// Resolves an identifier to revisions, as `alembic` resolves a command argument:
    /// `head`, `heads`, `base`, an id, a unique prefix, a label, `label@head`, `-N`.
    pub fn resolve(&self, ident: &str) -> Result<Vec<RevIdx>, PlanError> {
        let slots = self.slots(Some(ident))?;
        let mut out: Vec<RevIdx> = slots
            .into_iter()
            .filter_map(|s| match s {
                Slot::Rev(r) => Some(r),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Alembic's `_walk`: `steps` up (positive) or down (negative); `Ok(None)` past the end.
    fn walk(&self, start: Slot, steps: i64, branch: Option<&str>, no_overwalk: bool) -> Result<Option<Slot>, PlanError> {
        let mut here = start;
        for _ in 0..steps.unsigned_abs() {
            let children: Vec<Slot> = if steps > 0 {
                let up: Vec<RevIdx> = match here {
                    Slot::Rev(r) => self.nodes[r].next.clone(),
                    Slot::Nothing | Slot::Base => self.bases.clone(),
                };
                let up = match branch {
                    Some(b) => self.filter_for_lineage(&up, b, false)?,
                    None => up,
                };
                up.into_iter().map(Slot::Rev).collect()
            } else {
                match here {
                    Slot::Base => Vec::new(),
                    Slot::Nothing => self.heads.iter().map(|&h| Slot::Rev(h)).collect(),
                    Slot::Rev(r) if self.nodes[r].down.is_empty() => vec![Slot::Base],
                    Slot::Rev(r) => self.nodes[r].down.iter().map(|&d| Slot::Rev(d)).collect(),
                }
            };
            match children.len() {
                0 => return Ok(if no_overwalk { None } else { Some(here) }),
                1 => here = children[0],
                _ => return Err(PlanError::AmbiguousWalk),
            }
        }
        Ok(Some(here))
    }

    fn slot_with_branch(&self, symbol: &str, branch: Option<&str>) -> Result<Slot, PlanError> {
        match branch {
            None => self.slot(Some(symbol)),
            Some(b) => self.slot(Some(&format!("{b}@{symbol}"))),
        }
    }

    /// Alembic's `_parse_downgrade_target`: the branch and the revision a
    /// downgrade target names, relative to the current heads when relative.
    fn parse_downgrade_target(
        &self,
        current: &Lower<'_>,
        target: Option<&str>,
        assert_relative_length: bool,
    ) -> Result<(Option<String>, Slot), PlanError> {
        let Some(target) = target else { return Ok((None, Slot::Nothing)) };
        if let Some(rel) = match_relative(target) {
            let relative: i64 = rel.relative.parse().map_err(|_| PlanError::WalkedTooFar)?;
            let mut branch = rel.branch.map(str::to_string);
            if relative >= 0 {
                let Some(symbol) = rel.symbol else {
                    return Err(PlanError::RelativeOutOfRange { relative: rel.relative.to_string() });
                };
                let start = self.slot(Some(symbol))?;
                return match self.walk(start, relative, branch.as_deref(), assert_relative_length)? {
                    Some(s) => Ok((branch, s)),
                    None => Err(PlanError::WalkedTooFar),
                };
            }
            let relative_to_current = rel.symbol.is_none();
            let symbol: String = match rel.symbol {
                Some(s) => s.to_string(),
                None => {
                    let current_ids: Vec<String> = match current {
                        Lower::Heads(h) => h.to_vec(),
                        Lower::Symbol(s) => vec![s.to_string()],
                    };
                    if let Some(b) = &branch {
                        let current_revs = self.revs_of(&self.slots_of_all(&current_ids)?);
                        let mut on_branch = self.filter_for_lineage(&current_revs, b, false)?;
                        if on_branch.is_empty() {
                            let all_current = self.all_current(&current_ids)?;
                            on_branch = self.filter_for_lineage(&all_current, b, false)?;
                        }
                        if on_branch.len() != 1 {
                            let mut on: Vec<String> = on_branch.iter().map(|&r| self.id(r).to_string()).collect();
                            on.sort_unstable();
                            return Err(PlanError::BranchStart { label: b.clone(), current: current_ids.clone(), on_branch: on });
                        }
                        self.id(on_branch[0]).to_string()
                    } else {
                        let Some(first) = current_ids.first() else {
                            return Err(PlanError::RelativeOutOfRange { relative: rel.relative.to_string() });
                        };
                        branch = Some(first.clone());
                        first.clone()
                    }
                }
            };
            let start = self.slot_with_branch(&symbol, branch.as_deref())?;
            return match self.walk(start, relative, None, assert_relative_length)? {
                Some(s) => Ok((branch, s)),
                None if relative_to_current => Err(PlanError::RelativeOutOfRange { relative: rel.relative.to_string() }),
                None => Err(PlanError::WalkedTooFar),
            };
        }
        let (branch, symbol) = match target.rfind('@') {
            Some(i) => (Some(&target[..i]).filter(|b| !b.is_empty()), &target[i + 1..]),
            None => (None, target),
        };
        Ok((branch.map(str::to_string), self.slot(Some(symbol))?))
    }

    fn revs_of(&self, slots: &[Slot]) -> Vec<RevIdx> {
        slots
            .iter()
            .filter_map(|s| match s {
                Slot::Rev(r) => Some(*r),
                _ => None,
            })
            .collect()
    }

    /// Alembic's `_get_all_current`: the current revisions and their
    /// ancestors, reduced to those with no descendant in the set.
    fn all_current(&self, ids: &[String]) -> Result<Vec<RevIdx>, PlanError> {
        let top = self.revs_of(&self.slots_of_all(ids)?);
        let mut all = self.ancestors(&top, true);
        all.extend(top);
        all.sort_unstable();
        all.dedup();
        let in_set = self.mark(&all);
        Ok(all.iter().copied().filter(|&r| !self.descendants(&[r], false).into_iter().any(|d| d != r && in_set[d])).collect())
    }

    /// Alembic's `_parse_upgrade_target`: the revisions an upgrade target names.
    fn parse_upgrade_target(&self, current: &Lower<'_>, target: &str, assert_relative_length: bool) -> Result<Vec<Slot>, PlanError> {
        let Some(rel) = match_relative(target) else {
            return self.slots(Some(target));
        };
        let relative: i64 = rel.relative.parse().map_err(|_| PlanError::WalkedTooFar)?;
        let branch = rel.branch;
        if relative > 0 {
            if let Some(symbol) = rel.symbol {
                let start = self.slot(Some(symbol))?;
                return match self.walk(start, relative, branch, assert_relative_length)? {
                    Some(s) => Ok(vec![s]),
                    None => Err(PlanError::WalkedTooFar),
                };
            }
            let current_ids: Vec<String> = match current {
                Lower::Heads(h) => h.to_vec(),
                Lower::Symbol(s) => vec![s.to_string()],
            };
            let mut starts: Vec<Slot> = if current_ids.is_empty() {
                vec![Slot::Nothing]
            } else {
                current_ids.iter().map(|id| self.slot(Some(id))).collect::<Result<_, _>>()?
            };
            if let Some(b) = branch {
                let current_revs = if current_ids.is_empty() { Vec::new() } else { self.revs_of(&self.slots_of_all(&current_ids)?) };
                let on_branch = self.filter_for_lineage(&current_revs, b, false)?;
                starts = on_branch.into_iter().map(Slot::Rev).collect();
                if starts.is_empty() {
                    // The branch is not at a current head: start from its tip below them.
                    let active = self.ancestors(&current_revs, true);
                    let active = self.filter_for_lineage(&active, b, false)?;
                    let active_set = self.mark(&active);
                    let mut below = vec![false; self.nodes.len()];
                    for &r in &active {
                        for &d in &self.nodes[r].norm_down {
                            below[d] = true;
                        }
                    }
                    starts = active.iter().copied().filter(|&r| active_set[r] && !below[r]).map(Slot::Rev).collect();
                    if starts.is_empty() {
                        starts = vec![Slot::Nothing];
                    }
                }
            }
            if starts.len() > 1 {
                return Err(PlanError::AmbiguousUpgrade);
            }
            return match self.walk(starts[0], relative, branch, assert_relative_length)? {
                Some(s) => Ok(vec![s]),
                None => Err(PlanError::RelativeOutOfRange { relative: rel.relative.to_string() }),
            };
        }
        let Some(symbol) = rel.symbol else {
            return Err(PlanError::RelativeOutOfRange { relative: rel.relative.to_string() });
        };
        let start = self.slot_with_branch(symbol, branch)?;
        match self.walk(start, relative, None, assert_relative_length)? {
            Some(s) => Ok(vec![s]),
            None => Err(PlanError::WalkedTooFar),
        }
    }

    /// Alembic's `_collect_upgrade_revisions`: what must run to reach `upper` from `lower`.
    fn collect_upgrade(
        &self,
        upper: &str,
        lower: Lower<'_>,
        inclusive: bool,
        implicit_base: bool,
        assert_relative_length: bool,
    ) -> Result<(Vec<RevIdx>, Vec<RevIdx>), PlanError> {
        let mut targets = Vec::new();
        for s in self.parse_upgrade_target(&lower, upper, assert_relative_length)? {
            match s {
                Slot::Rev(r) => targets.push(r),
                // Alembic fails on an assertion here; kiln names the problem.
                Slot::Base | Slot::Nothing => return Err(PlanError::WalkedTooFar),
            }
        }
        if let Lower::Symbol(s) = lower {
            if let Some((branch, _)) = s.split_once('@') {
                let mut branch = branch.to_string();
                if let Slot::Rev(r) = self.slot(Some(&branch))? {
                    if self.nodes[r].id == branch {
                        if self.nodes[r].labels.len() != 1 {
                            return Err(PlanError::UnknownBranch { label: branch });
                        }
                        branch = self.nodes[r].labels.iter().next().cloned().unwrap_or_default();
                    }
                }
                targets.retain(|&t| self.nodes[t].labels.contains(&branch));
            }
        }
        let mut required = self.related_checked(&targets, Edge::NormDown, true)?;
        required.extend(targets.iter().copied());
        let required_set = self.mark(&required);

        let mut current_slots = match lower {
            Lower::Heads(h) => self.slots_of_all(h)?,
            Lower::Symbol(s) => self.slots(Some(s))?,
        };
        if !implicit_base && current_slots.iter().any(|s| matches!(s, Slot::Rev(r) if !required_set[*r])) {
            return Err(PlanError::NotAncestor { destination: upper.to_string(), upgrade: true });
        }
        let mut lower_ident: Option<String> = match lower {
            Lower::Symbol(s) => Some(s.to_string()),
            Lower::Heads(_) => None,
        };
        if current_slots.first() == Some(&Slot::Nothing) {
            let (_, rev) = self.parse_downgrade_target(&Lower::Symbol(upper), lower_ident.as_deref(), assert_relative_length)?;
            match rev {
                Slot::Base | Slot::Nothing => {
                    current_slots = Vec::new();
                    lower_ident = None;
                }
                Slot::Rev(r) => {
                    current_slots = vec![Slot::Rev(r)];
                    lower_ident = Some(self.nodes[r].id.clone());
                }
            }
        }
        if current_slots.contains(&Slot::Base) {
            return Err(PlanError::NotAncestor { destination: upper.to_string(), upgrade: true });
        }
        let current = self.revs_of(&current_slots);
        let mut current_set = self.mark(&self.related_checked(&current, Edge::NormDown, true)?);
        for &c in &current {
            current_set[c] = true;
        }
        let mut needs = vec![false; self.nodes.len()];
        for &r in &required {
            needs[r] = !current_set[r];
        }
        if inclusive {
            let lower_revs = match (&lower, &lower_ident) {
                (Lower::Heads(h), _) => self.revs_of(&self.slots_of_all(h)?),
                (Lower::Symbol(_), Some(id)) => self.revs_of(&self.slots(Some(id))?),
                (Lower::Symbol(_), None) => Vec::new(),
            };
            for r in lower_revs {
                needs[r] = true;
            }
        }
        if !current.is_empty() && !implicit_base {
            let below = self.mark(&self.related_checked(&current, Edge::Next, true)?);
            for (n, b) in needs.iter_mut().zip(below) {
                *n &= b;
            }
        }
        let needs: Vec<RevIdx> = (0..self.nodes.len()).filter(|&r| needs[r]).collect();
        Ok((needs, targets))
    }

    /// Alembic's `_collect_downgrade_revisions`: what must be undone to go
    /// from the current heads (`upper`) down to `lower`.
    fn collect_downgrade(
        &self,
        upper: &[String],
        lower: &str,
        assert_relative_length: bool,
    ) -> Result<(Vec<RevIdx>, Vec<RevIdx>), PlanError> {
        let (branch, target) = self.parse_downgrade_target(&Lower::Heads(upper), Some(lower), assert_relative_length)?;
        let target = match target {
            Slot::Rev(r) => Some(r),
            Slot::Base | Slot::Nothing => None,
        };
        let mut roots: Vec<RevIdx> = match target {
            None => self.bases.clone(),
            Some(t) => self.nodes[t].next.clone(),
        };
        if let Some(b) = &branch {
            if roots.len() > 1 {
                let label_rev = self.resolve_branch(b)?;
                let keep = self.mark(&self.ancestors(&[label_rev], false));
                roots.retain(|&r| keep[r]);
                if roots.is_empty() {
                    return Err(PlanError::NotValidDowngradeTarget);
                }
            }
        }
        let heads = self.revs_of(&self.slots_of_all(upper)?);
        let active = self.mark(&self.ancestors(&heads, true));
        let drop: Vec<RevIdx> = {
            let mut d: Vec<RevIdx> = self.descendants(&roots, true).into_iter().filter(|&r| active[r]).collect();
            d.sort_unstable();
            d
        };
        if let Some(t) = target {
            if drop.is_empty() && !heads.contains(&t) {
                return Err(PlanError::NotAncestor { destination: lower.to_string(), upgrade: false });
            }
        }
        Ok((drop, heads))
    }

    /// Alembic's `_topological_sort`: revisions after their dependents, heads
    /// first, walking one branch down as far as no other head still needs it,
    /// ties broken by load order.
    fn topological_sort(&self, revisions: &[RevIdx], heads: &[RevIdx]) -> Vec<RevIdx> {
        let output = self.topological_sort_partial(revisions, heads);
        debug_assert_eq!(output.len(), revisions.len(), "topological sort left revisions behind");
        output
    }

    /// The sort itself; it leaves behind what no head reaches (a range whose
    /// revisions only depend on its lower end, where Alembic's assertion fails).
    fn topological_sort_partial(&self, revisions: &[RevIdx], heads: &[RevIdx]) -> Vec<RevIdx> {
        let mut todo = self.mark(revisions);
        let mut current: Vec<RevIdx> = heads.iter().copied().filter(|&h| todo[h]).collect();
        current.sort_unstable();
        current.dedup();
        let mut ancestors: Vec<Vec<bool>> = current.iter().map(|&h| self.mark(&self.ancestors(&[h], true))).collect();
        let mut output = Vec::with_capacity(revisions.len());
        let mut idx = 0;
        while !current.is_empty() {
            let candidate = current[idx];
            if let Some(other) = (0..current.len()).find(|&i| i != idx && ancestors[i][candidate]) {
                // Another head still needs this revision: walk that one first.
                idx = other;
                continue;
            }
            if todo[candidate] {
                output.push(candidate);
                todo[candidate] = false;
            }
            let node = &self.nodes[candidate];
            let to_add: Vec<RevIdx> = node.norm_down.iter().copied().filter(|&r| todo[r] && !current.contains(&r)).collect();
            if to_add.is_empty() {
                current.remove(idx);
                ancestors.remove(idx);
                idx = idx.saturating_sub(1);
            } else if node.norm_deps.is_empty() && node.down.len() == 1 {
                current[idx] = to_add[0];
                ancestors[idx][candidate] = false;
            } else {
                current[idx] = to_add[0];
                ancestors[idx] = self.mark(&self.ancestors(&[to_add[0]], true));
                for &h in &to_add[1..] {
                    current.push(h);
                    ancestors.push(self.mark(&self.ancestors(&[h], true)));
                }
            }
        }
        output
    }

    /// Every revision in `alembic history` order: heads first, each revision
    /// before its parents. This is the order kiln precomputes at build time.
    pub fn history_order(&self) -> Vec<RevIdx> {
        match self.collect_upgrade("heads", Lower::Symbol("base"), true, false, false) {
            Ok((needs, targets)) => self.topological_sort(&needs, &targets),
            // `heads` of a valid graph never overlap and always resolve.
            Err(e) => unreachable!("history of a valid graph failed: {e}"),
        }
    }

    /// `alembic history -r <lower>:<upper>`: the revisions from `lower`
    /// (inclusive; `base` for all) up to `upper` (`heads`, an id, a label...),
    /// in Alembic's walk order for that range (`walk_revisions`), which is
    /// not always the whole history's order filtered. `current_lower`, when
    /// given, is the version table's rows standing for `lower` (`current:`).
    pub fn history_range(&self, lower: &str, upper: &str, current_lower: Option<&[String]>) -> Result<Vec<RevIdx>, PlanError> {
        let lower = match current_lower {
            Some(rows) => Lower::Heads(rows),
            None => Lower::Symbol(lower),
        };
        let label = match lower {
            Lower::Heads(rows) => rows.join(", "),
            Lower::Symbol(s) => s.to_string(),
        };
        let (needs, targets) = self.collect_upgrade(upper, lower, true, false, false)?;
        let order = self.topological_sort_partial(&needs, &targets);
        if order.len() != needs.len() {
            return Err(PlanError::RangeNotWalkable { lower: label, upper: upper.to_string() });
        }
        Ok(order)
    }

    /// The steps `upgrade <target>` runs from the version table's current rows.
    ///
    /// `target` is anything Alembic accepts: `head`, `heads`, an id or prefix,
    /// `label@head`, `+N`, `label@+N`, `rev+N`.
    pub fn plan_upgrade(&self, current_heads: &[String], target: &str) -> Result<Plan, PlanError> {
        let (needs, targets) = self.collect_upgrade(target, Lower::Heads(current_heads), false, true, true)?;
        let mut order = self.topological_sort(&needs, &targets);
        order.reverse();
        self.steps(current_heads, &order, Direction::Up)
    }

    /// The steps `downgrade <target>` runs from the version table's current rows.
    ///
    /// `target` is anything Alembic accepts: `base`, `-N`, an id or prefix, `label@base`, `label@-N`.
    pub fn plan_downgrade(&self, current_heads: &[String], target: &str) -> Result<Plan, PlanError> {
        let (drop, heads) = self.collect_downgrade(current_heads, target, true)?;
        let order = self.topological_sort(&drop, &heads);
        self.steps(current_heads, &order, Direction::Down)
    }

    /// The one step that downgrades exactly `revision`, a row of the version
    /// table that no other applied revision needs: its parents become
    /// current, nothing else moves. Alembic has no such target (`downgrade
    /// <parent>` also undoes the parent's other applied descendants); kiln's
    /// round-trip test steps with it.
    ///
    /// ```
    /// use kiln_core::graph::{Graph, NodeSpec};
    /// let spec = |id: &str, down: &[&str]| NodeSpec {
    ///     id: id.into(),
    ///     down_revisions: down.iter().map(|d| d.to_string()).collect(),
    ///     ..NodeSpec::default()
    /// };
    /// let g = Graph::build(&[spec("a", &[]), spec("b", &["a"]), spec("c", &["a"]), spec("m", &["b", "c"])]).unwrap();
    /// let plan = g.plan_downgrade_one(&["m".into()], "m").unwrap();
    /// assert_eq!(plan.heads_after, ["b", "c"]);
    /// assert!(g.plan_downgrade_one(&["m".into()], "b").is_err());
    /// ```
    pub fn plan_downgrade_one(&self, current_heads: &[String], revision: &str) -> Result<Plan, PlanError> {
        let rev = self.index_of(revision).ok_or_else(|| PlanError::UnknownRevision { identifier: revision.to_string() })?;
        let others: Vec<RevIdx> = current_heads.iter().filter(|h| *h != revision).filter_map(|h| self.index_of(h)).collect();
        let needed = self.mark(&self.ancestors(&others, true));
        if !current_heads.iter().any(|h| h == revision) || needed[rev] {
            return Err(PlanError::VersionTable {
                message: format!(
                    "cannot downgrade only `{revision}`: it is not a current head that nothing applied needs (rows: {})",
                    current_heads.join(", ")
                ),
            });
        }
        self.steps(current_heads, &[rev], Direction::Down)
    }

    fn steps(&self, current_heads: &[String], order: &[RevIdx], direction: Direction) -> Result<Plan, PlanError> {
        let mut table = VersionTable { rows: current_heads.iter().cloned().collect(), ops: Vec::new() };
        let mut steps = Vec::with_capacity(order.len());
        for &rev in order {
            match direction {
                Direction::Up => self.upgrade_step(rev, &mut table)?,
                Direction::Down => self.downgrade_step(rev, &mut table)?,
            }
            steps.push(Step {
                direction,
                revision: rev,
                version_ops: std::mem::take(&mut table.ops),
                heads_after: table.rows.iter().cloned().collect(),
            });
        }
        Ok(Plan { steps, heads_after: table.rows.into_iter().collect() })
    }

    fn ids_in(&self, rows: &BTreeSet<String>) -> Vec<RevIdx> {
        rows.iter().filter_map(|r| self.index_of(r)).collect()
    }

    /// Alembic's `HeadMaintainer.update_to_step` for an upgrade.
    fn upgrade_step(&self, rev: RevIdx, table: &mut VersionTable) -> Result<(), PlanError> {
        let node = &self.nodes[rev];
        let id = node.id.clone();
        let down_present: Vec<RevIdx> = node.norm_down.iter().copied().filter(|&d| table.has(self.id(d))).collect();
        if down_present.is_empty() {
            return table.insert(id);
        }
        if node.norm_down.len() > 1 && down_present.len() > 1 {
            // A merge: one parent row becomes this revision, the others go.
            let others: Vec<RevIdx> = {
                let mut rows = table.rows.clone();
                for &d in &node.norm_down {
                    rows.remove(self.id(d));
                }
                self.ids_in(&rows)
            };
            let covered = self.mark(&self.ancestors(&others, true));
            // Alembic takes every uncovered parent; kiln only those with a row,
            // where Alembic would fail on a missing row.
            let from: Vec<RevIdx> = node.norm_down.iter().copied().filter(|&d| !covered[d] && table.has(self.id(d))).collect();
            let Some((&last, rest)) = from.split_last() else {
                return Err(PlanError::VersionTable { message: format!("cannot merge into `{id}`: no parent row to update") });
            };
            for &d in rest {
                table.delete(self.id(d))?;
            }
            return table.update(self.id(last), id);
        }
        if node.norm_down.len() == 1 {
            return table.update(self.id(node.norm_down[0]), id);
        }
        match down_present.as_slice() {
            [one] => table.update(self.id(*one), id),
            _ => Err(PlanError::VersionTable { message: format!("cannot upgrade to `{id}`: its parent row is ambiguous") }),
        }
    }

    /// Alembic's `HeadMaintainer.update_to_step` for a downgrade.
    fn downgrade_step(&self, rev: RevIdx, table: &mut VersionTable) -> Result<(), PlanError> {
        let node = &self.nodes[rev];
        let id = node.id.clone();
        let is_row = table.has(&id);
        if is_row {
            if node.norm_down.is_empty() {
                return table.delete(&id);
            }
            let to = self.unmerge_targets(rev, &table.rows);
            if to.is_empty() {
                return table.delete(&id);
            }
            if node.norm_down.len() > 1 {
                let (&last, rest) = to.split_last().expect("not empty");
                for &t in rest {
                    table.insert(self.id(t).to_string())?;
                }
                return table.update(&id, self.id(last).to_string());
            }
        }
        if node.norm_down.len() == 1 {
            return table.update(&id, self.id(node.norm_down[0]).to_string());
        }
        let present: Vec<RevIdx> = node.norm_down.iter().copied().filter(|&d| table.has(self.id(d))).collect();
        match present.as_slice() {
            [one] => table.update(&id, self.id(*one).to_string()),
            _ => Err(PlanError::VersionTable { message: format!("cannot downgrade `{id}`: its parent row is ambiguous") }),
        }
    }

    /// Alembic's `_unmerge_to_revisions`: the parents that become rows when
    /// `rev` is undone, leaving out those another row already implies.
    fn unmerge_targets(&self, rev: RevIdx, rows: &BTreeSet<String>) -> Vec<RevIdx> {
        let node = &self.nodes[rev];
        let mut others = rows.clone();
        others.remove(&node.id);
        let covered = if !others.is_empty() {
            self.mark(&self.ancestors(&self.ids_in(&others), true))
        } else {
            let mut m = vec![false; self.nodes.len()];
            for &d in &node.norm_down {
                for a in self.ancestors(&[d], true) {
                    if a != d {
                        m[a] = true;
                    }
                }
            }
            m
        };
        node.norm_down.iter().copied().filter(|&d| !covered[d]).collect()
    }
}

/// The version table's rows while a plan is computed, and the operations made.
struct VersionTable {
    rows: BTreeSet<String>,
    ops: Vec<VersionOp>,
}

impl VersionTable {
    fn has(&self, id: &str) -> bool {
        self.rows.contains(id)
    }

    fn insert(&mut self, id: String) -> Result<(), PlanError> {
        if !self.rows.insert(id.clone()) {
            return Err(PlanError::VersionTable { message: format!("version table already holds `{id}`") });
        }
        self.ops.push(VersionOp::Insert(id));
        Ok(())
    }

    fn delete(&mut self, id: &str) -> Result<(), PlanError> {
        if !self.rows.remove(id) {
            return Err(PlanError::VersionTable { message: format!("version table does not hold `{id}`") });
        }
        self.ops.push(VersionOp::Delete(id.to_string()));
        Ok(())
    }

    fn update(&mut self, from: &str, to: String) -> Result<(), PlanError> {
        if self.rows.contains(&to) || !self.rows.remove(from) {
            return Err(PlanError::VersionTable { message: format!("cannot move version row `{from}` to `{to}`") });
        }
        self.rows.insert(to.clone());
        self.ops.push(VersionOp::Update(from.to_string(), to));
        Ok(())
    }
}

/// Members of cycles over `Revises` and `Depends On` edges (Kahn's algorithm:
/// what cannot be ordered is on or above a cycle; keep only nodes on one).
fn find_cycle_members(nodes: &[Node]) -> Vec<RevIdx> {
    let mut indegree: Vec<usize> = nodes.iter().map(|n| n.all_down.len()).collect();
    let mut queue: Vec<RevIdx> = (0..nodes.len()).filter(|&n| indegree[n] == 0).collect();
    let mut done = vec![false; nodes.len()];
    while let Some(n) = queue.pop() {
        done[n] = true;
        for &c in &nodes[n].all_next {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                queue.push(c);
            }
        }
    }
    // Peel off nodes that merely descend from a cycle: repeatedly drop
    // unordered nodes with no unordered child.
    let mut alive: Vec<bool> = done.iter().map(|d| !d).collect();
    let mut outdegree: Vec<usize> = (0..nodes.len()).map(|n| nodes[n].all_next.iter().filter(|&&c| alive[c]).count()).collect();
    let mut queue: Vec<RevIdx> = (0..nodes.len()).filter(|&n| alive[n] && outdegree[n] == 0).collect();
    while let Some(n) = queue.pop() {
        alive[n] = false;
        for &p in &nodes[n].all_down {
            if alive[p] {
                outdegree[p] -= 1;
                if outdegree[p] == 0 {
                    queue.push(p);
                }
            }
        }
    }
    (0..nodes.len()).filter(|&n| alive[n]).collect()
}

/// Alembic's `int()` test for a negative relative identifier such as `-2`.
fn parse_negative_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix('-')?;
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    if !digits.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    (n > 0).then_some(-n)
}

/// A relative target such as `+2`, `-1`, `ae10+1` or `core@-1`.
#[derive(Debug, PartialEq, Eq)]
struct Relative<'a> {
    branch: Option<&'a str>,
    symbol: Option<&'a str>,
    relative: &'a str,
}

/// Matches Alembic's `(?:(.+?)@)?(\w+)?((?:\+|-)\d+)` at the start of `s`,
/// with the same backtracking preferences.
fn match_relative(s: &str) -> Option<Relative<'_>> {
    fn rest(s: &str) -> Option<(Option<&str>, &str)> {
        let word = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
        for k in (0..=word).rev().filter(|&k| s.is_char_boundary(k)) {
            let tail = &s[k..];
            if let Some(after) = tail.strip_prefix(['+', '-']) {
                let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
                if digits > 0 {
                    return Some(((k > 0).then(|| &s[..k]), &tail[..1 + digits]));
                }
            }
        }
        None
    }
    for (at, _) in s.match_indices('@').filter(|(i, _)| *i > 0) {
        if let Some((symbol, relative)) = rest(&s[at + 1..]) {
            return Some(Relative { branch: Some(&s[..at]), symbol, relative });
        }
    }
    rest(s).map(|(symbol, relative)| Relative { branch: None, symbol, relative })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, down: &[&str]) -> NodeSpec {
        NodeSpec { id: id.into(), down_revisions: down.iter().map(|s| s.to_string()).collect(), ..NodeSpec::default() }
    }

    fn ids(g: &Graph, revs: &[RevIdx]) -> Vec<String> {
        revs.iter().map(|&r| g.id(r).to_string()).collect()
    }

    #[test]
    fn relative_matches_like_alembic_regex() {
        assert_eq!(match_relative("+2"), Some(Relative { branch: None, symbol: None, relative: "+2" }));
        assert_eq!(match_relative("ae10+1"), Some(Relative { branch: None, symbol: Some("ae10"), relative: "+1" }));
        assert_eq!(match_relative("core@-1"), Some(Relative { branch: Some("core"), symbol: None, relative: "-1" }));
        assert_eq!(match_relative("core@head-2"), Some(Relative { branch: Some("core"), symbol: Some("head"), relative: "-2" }));
        assert_eq!(match_relative("abc"), None);
        assert_eq!(match_relative("core@head"), None);
    }

    #[test]
    fn get_revisions_walks_down_from_each_head_as_alembic_lists_them() {
        // a1 <- b2, a1 <- c3: two heads whose parent is the same revision.
        let g = Graph::build(&[spec("a1", &[]), spec("b2", &["a1"]), spec("c3", &["a1"])]).unwrap();
        assert_eq!(ids(&g, &g.get_revisions("-1").unwrap()), ["a1", "a1"]);
        assert_eq!(ids(&g, &g.resolve("-1").unwrap()), ["a1"], "resolve is a set");
        assert!(matches!(g.get_revisions("-2"), Err(PlanError::WalkedTooFar)), "below the base");
        assert_eq!(ids(&g, &g.get_revisions("heads").unwrap()), ["b2", "c3"]);
        let merged = Graph::build(&[spec("a1", &[]), spec("b2", &["a1"]), spec("c3", &["a1"]), spec("d4", &["b2", "c3"])]).unwrap();
        assert!(matches!(merged.get_revisions("-2"), Err(PlanError::AmbiguousWalk)), "through a merge");
    }

    #[test]
    fn label_minus_n_says_what_happened_when_no_current_row_is_on_the_branch() {
        // Two roots: `core` (a1 <- a2) and `audit` (b1 <- b2).
        let mut a1 = spec("a1", &[]);
        a1.branch_labels = vec!["core".into()];
        let mut b1 = spec("b1", &[]);
        b1.branch_labels = vec!["audit".into()];
        let g = Graph::build(&[a1, spec("a2", &["a1"]), b1, spec("b2", &["b1"])]).unwrap();
        // Only core is applied: audit@-1 has nothing to step down from.
        let e = g.plan_downgrade(&["a2".to_string()], "audit@-1").unwrap_err();
        assert!(matches!(&e, PlanError::BranchStart { label, on_branch, .. } if label == "audit" && on_branch.is_empty()), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("no current revision is on branch `audit` (current: a2)") && !text.contains("merge"), "{text}");
        // On the branch, the walk works.
        let plan = g.plan_downgrade(&["a2".to_string(), "b2".to_string()], "audit@-1").unwrap();
        assert_eq!(plan.steps.len(), 1);
    }

    #[test]
    fn merge_runs_last_listed_parent_first() {
        let g = Graph::build(&[spec("a", &[]), spec("b", &["a"]), spec("c", &["a"]), spec("d", &["b", "c"])]).unwrap();
        let plan = g.plan_upgrade(&[], "heads").unwrap();
        let order: Vec<&str> = plan.steps.iter().map(|s| g.id(s.revision)).collect();
        assert_eq!(order, ["a", "c", "b", "d"]);
        assert_eq!(plan.heads_after, ["d"]);
        assert_eq!(ids(&g, &g.history_order()), ["d", "b", "c", "a"]);
    }

    #[test]
    fn downgrade_below_merge_splits_the_row() {
        let g = Graph::build(&[spec("a", &[]), spec("b", &["a"]), spec("c", &["a"]), spec("d", &["b", "c"])]).unwrap();
        let plan = g.plan_downgrade(&["d".to_string()], "a").unwrap();
        let order: Vec<&str> = plan.steps.iter().map(|s| g.id(s.revision)).collect();
        assert_eq!(order, ["d", "b", "c"]);
        assert_eq!(plan.steps[0].heads_after, ["b", "c"]);
        assert_eq!(plan.heads_after, ["a"]);
    }

    #[test]
    fn missing_parent_and_cycle_are_reported() {
        let err = Graph::build(&[spec("a", &[]), spec("b", &["zz"])]).unwrap_err();
        assert_eq!(err, vec![GraphError::MissingRevision { revision: 1, missing: "zz".into(), dependency: false }]);
        let err = Graph::build(&[spec("a", &["c"]), spec("b", &["a"]), spec("c", &["b"]), spec("d", &["c"])]).unwrap_err();
        assert_eq!(err, vec![GraphError::Cycle { revisions: vec![0, 1, 2] }]);
    }

    #[test]
    fn prefix_resolution_needs_uniqueness() {
        let g = Graph::build(&[spec("abcd1111", &[]), spec("abcd2222", &["abcd1111"]), spec("xyz", &["abcd2222"])]).unwrap();
        assert_eq!(g.resolve("abcd1").unwrap(), vec![0]);
        assert!(matches!(g.resolve("abc"), Err(PlanError::AmbiguousPrefix { .. })));
        // Only ids longer than three characters take part in prefix matching.
        assert!(matches!(g.resolve("xy"), Err(PlanError::UnknownRevision { .. })));
    }

    #[test]
    fn label_spreads_down_a_linear_segment() {
        let mut s = vec![spec("a", &[]), spec("b", &["a"]), spec("c", &["b"])];
        s[1].branch_labels = vec!["core".into()];
        let g = Graph::build(&s).unwrap();
        for r in 0..3 {
            assert_eq!(g.branch_labels(r).collect::<Vec<_>>(), ["core"], "revision {}", g.id(r));
        }
        assert_eq!(g.resolve("core@head").unwrap(), vec![2]);
    }
}
