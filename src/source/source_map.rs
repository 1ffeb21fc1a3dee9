//! [`SourceMap`]: every file a command has read, by [`FileId`], so a diagnostic can name a
//! file and a span in it and be rendered later with the text around it.

use std::path::PathBuf;

/// Which file of the [`SourceMap`] a span is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How messages name the file: the path as the user gave it, or `std/tms.dev`.
    pub name: String,
    /// Where it is on disk; `None` for files shipped inside devspec.
    pub path: Option<PathBuf>,
    pub text: String,
    /// Byte offset of each line start, for line and column numbers.
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Line and column (both 1-based, column in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset).saturating_sub(1);
        let start = self.line_starts[line];
        let offset = offset.min(self.text.len());
        let column = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, path: Option<PathBuf>, text: String) -> FileId {
        let line_starts =
            std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 2^32 files"));
        self.files.push(SourceFile { name: name.into(), path, text, line_starts });
        id
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// Every file read, in reading order.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    /// The file already read from this path, if any.
    pub fn find_path(&self, path: &std::path::Path) -> Option<FileId> {
        self.files
            .iter()
            .position(|file| file.path.as_deref() == Some(path))
            .map(|index| FileId(u32::try_from(index).expect("fewer than 2^32 files")))
    }
}

impl<'a> codespan_reporting::files::Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.files
            .get(id.0 as usize)
            .map(|f| f.name.as_str())
            .ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, codespan_reporting::files::Error> {
        self.files
            .get(id.0 as usize)
            .map(|f| f.text.as_str())
            .ok_or(codespan_reporting::files::Error::FileMissing)
    }

    fn line_index(
        &'a self,
        id: FileId,
        byte_index: usize,
    ) -> Result<usize, codespan_reporting::files::Error> {
        let file =
            self.files.get(id.0 as usize).ok_or(codespan_reporting::files::Error::FileMissing)?;
        Ok(file.line_starts.partition_point(|&start| start <= byte_index).saturating_sub(1))
    }

    fn line_range(
        &'a self,
        id: FileId,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, codespan_reporting::files::Error> {
        let file =
            self.files.get(id.0 as usize).ok_or(codespan_reporting::files::Error::FileMissing)?;
        let start = *file.line_starts.get(line_index).ok_or(
            codespan_reporting::files::Error::LineTooLarge {
                given: line_index,
                max: file.line_starts.len() - 1,
            },
        )?;
        let end = file.line_starts.get(line_index + 1).copied().unwrap_or(file.text.len());
        Ok(start..end)
    }
}
