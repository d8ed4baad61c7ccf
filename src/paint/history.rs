//! Undo and redo by stroke: each stroke keeps only the voxels it changed
//! (index, before, after), never a copy of the map, and the history drops
//! its oldest strokes when it would exceed its memory bound.

use std::collections::{HashMap, VecDeque};

use super::{Grid, LabelCounts, VoxelBox};

/// Memory the undo history may hold, in bytes (a stroke costs 8 bytes per
/// changed voxel): about 8 million voxel changes.
pub const HISTORY_LIMIT_BYTES: usize = 64 << 20;

/// One voxel changed by a stroke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub index: u32,
    pub before: u8,
    pub after: u8,
}

/// Collects a stroke's changes while it is being painted: a voxel painted
/// twice in one stroke keeps its first `before` and last `after`.
#[derive(Debug, Default)]
pub struct StrokeBuilder {
    changes: HashMap<u32, (u8, u8)>,
}

impl StrokeBuilder {
    pub fn record(&mut self, index: usize, before: u8, after: u8) {
        let index = index as u32;
        self.changes
            .entry(index)
            .and_modify(|c| c.1 = after)
            .or_insert((before, after));
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The finished stroke, changes in voxel order; voxels painted back to
    /// what they were are left out.
    pub fn finish(self) -> Stroke {
        let mut changes: Vec<Change> = self
            .changes
            .into_iter()
            .filter(|(_, (before, after))| before != after)
            .map(|(index, (before, after))| Change {
                index,
                before,
                after,
            })
            .collect();
        changes.sort_unstable_by_key(|c| c.index);
        Stroke { changes }
    }
}

/// A finished stroke.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stroke {
    changes: Vec<Change>,
}

impl Stroke {
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    fn size_bytes(&self) -> usize {
        self.changes.len() * std::mem::size_of::<Change>()
    }

    /// Writes `before` (undo) or `after` (redo) values; returns the box touched.
    fn write(
        &self,
        map: &mut [u8],
        grid: &Grid,
        counts: &mut LabelCounts,
        forward: bool,
    ) -> Option<VoxelBox> {
        for c in &self.changes {
            if let Some(v) = map.get_mut(c.index as usize) {
                let new = if forward { c.after } else { c.before };
                counts[*v as usize] -= 1;
                counts[new as usize] += 1;
                *v = new;
            }
        }
        VoxelBox::around(grid, self.changes.iter().map(|c| c.index as usize))
    }
}

/// Undo and redo stacks of strokes, bounded in memory.
#[derive(Debug)]
pub struct History {
    undo: VecDeque<Stroke>,
    redo: Vec<Stroke>,
    bytes: usize,
    limit_bytes: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::with_limit(HISTORY_LIMIT_BYTES)
    }
}

impl History {
    pub fn with_limit(limit_bytes: usize) -> Self {
        Self {
            undo: VecDeque::new(),
            redo: Vec::new(),
            bytes: 0,
            limit_bytes,
        }
    }

    /// Records a finished stroke (an empty one is ignored); redo is gone.
    pub fn push(&mut self, stroke: Stroke) {
        if stroke.is_empty() {
            return;
        }
        self.redo.clear();
        self.bytes = self.undo.iter().map(Stroke::size_bytes).sum();
        self.bytes += stroke.size_bytes();
        self.undo.push_back(stroke);
        while self.bytes > self.limit_bytes && self.undo.len() > 1 {
            if let Some(old) = self.undo.pop_front() {
                self.bytes -= old.size_bytes();
            }
        }
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Strokes that can be undone.
    pub fn undo_levels(&self) -> usize {
        self.undo.len()
    }

    /// Bytes the history holds (undo and redo).
    pub fn size_bytes(&self) -> usize {
        self.bytes + self.redo.iter().map(Stroke::size_bytes).sum::<usize>()
    }

    /// Takes back the last stroke; returns the box it touched.
    pub fn undo(
        &mut self,
        map: &mut [u8],
        grid: &Grid,
        counts: &mut LabelCounts,
    ) -> Option<VoxelBox> {
        let stroke = self.undo.pop_back()?;
        self.bytes -= stroke.size_bytes();
        let touched = stroke.write(map, grid, counts, false);
        self.redo.push(stroke);
        touched
    }

    /// Paints the last undone stroke again.
    pub fn redo(
        &mut self,
        map: &mut [u8],
        grid: &Grid,
        counts: &mut LabelCounts,
    ) -> Option<VoxelBox> {
        let stroke = self.redo.pop()?;
        let touched = stroke.write(map, grid, counts, true);
        self.bytes += stroke.size_bytes();
        self.undo.push_back(stroke);
        touched
    }

    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paint::{PaintOver, apply, count_labels};

    #[test]
    fn undo_and_redo_restore_the_map_stroke_by_stroke() {
        let grid = Grid::new([5, 1, 1], [1.0; 3]);
        let mut map = vec![0u8; 5];
        let mut counts = count_labels(&map);
        let mut history = History::default();
        for (voxels, label) in [(&[0usize, 1][..], 1u8), (&[1, 2][..], 2), (&[4][..], 3)] {
            let mut stroke = StrokeBuilder::default();
            apply(
                &mut map,
                &grid,
                voxels,
                label,
                PaintOver::All,
                &mut stroke,
                &mut counts,
            );
            history.push(stroke.finish());
        }
        assert_eq!(map, [1, 2, 2, 0, 3]);
        assert!(history.undo(&mut map, &grid, &mut counts).is_some());
        assert_eq!(map, [1, 2, 2, 0, 0]);
        history.undo(&mut map, &grid, &mut counts);
        assert_eq!(map, [1, 1, 0, 0, 0]);
        history.redo(&mut map, &grid, &mut counts);
        assert_eq!(map, [1, 2, 2, 0, 0]);
        assert_eq!(counts, count_labels(&map));
        // A new stroke drops the redo stack.
        let mut stroke = StrokeBuilder::default();
        apply(
            &mut map,
            &grid,
            &[3],
            5,
            PaintOver::All,
            &mut stroke,
            &mut counts,
        );
        history.push(stroke.finish());
        assert!(!history.can_redo());
        assert_eq!(history.undo_levels(), 3);
        for _ in 0..3 {
            history.undo(&mut map, &grid, &mut counts);
        }
        assert_eq!(map, [0; 5]);
        assert!(history.undo(&mut map, &grid, &mut counts).is_none());
        assert_eq!(counts[0], 5);
    }

    #[test]
    fn the_history_keeps_within_its_memory_bound_by_dropping_the_oldest() {
        let grid = Grid::new([100, 1, 1], [1.0; 3]);
        let mut map = vec![0u8; 100];
        let mut counts = count_labels(&map);
        // Room for 25 changes of 8 bytes.
        let mut history = History::with_limit(200);
        for stroke_number in 0..10u8 {
            let mut stroke = StrokeBuilder::default();
            let voxels: Vec<usize> = (0..10).map(|i| i + 10 * stroke_number as usize).collect();
            apply(
                &mut map,
                &grid,
                &voxels,
                1,
                PaintOver::All,
                &mut stroke,
                &mut counts,
            );
            history.push(stroke.finish());
        }
        assert_eq!(history.undo_levels(), 2);
        assert!(history.size_bytes() <= 200);
        history.undo(&mut map, &grid, &mut counts);
        history.undo(&mut map, &grid, &mut counts);
        assert_eq!(map.iter().filter(|&&v| v == 1).count(), 80);
    }
}
