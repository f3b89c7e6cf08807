package raster

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"cyclepix/data/libtiff"
)

// OME-TIFF keeps its metadata as OME-XML in page 0's ImageDescription:
// <Pixels DimensionOrder Type SizeX SizeY SizeC SizeZ SizeT> says how the
// pages (planes) of the first image are ordered, and <TiffData IFD
// FirstC FirstZ FirstT PlaneCount> blocks, when present, where each run
// of planes starts. cyclepix reads the channels of the first Z and the
// first T, and checks the XML against the pages: a file whose metadata
// disagree with its pages is refused rather than read as something else.

// omeMaxXML bounds the OME-XML parsed (a description can be large when it
// lists thousands of planes, never this large in a sane file).
const omeMaxXML = 64 << 20

type omeDoc struct {
	UUID       string     `xml:"UUID,attr"`
	BinaryOnly *struct{}  `xml:"BinaryOnly"`
	Images     []omeImage `xml:"Image"`
}

type omeImage struct {
	Pixels struct {
		DimensionOrder string `xml:"DimensionOrder,attr"`
		Type           string `xml:"Type,attr"`
		SizeX          string `xml:"SizeX,attr"`
		SizeY          string `xml:"SizeY,attr"`
		SizeC          string `xml:"SizeC,attr"`
		SizeZ          string `xml:"SizeZ,attr"`
		SizeT          string `xml:"SizeT,attr"`
		Channels       []struct {
			SamplesPerPixel string `xml:"SamplesPerPixel,attr"`
		} `xml:"Channel"`
		TiffData []omeTiffData `xml:"TiffData"`
	} `xml:"Pixels"`
}

type omeTiffData struct {
	IFD        *string `xml:"IFD,attr"`
	FirstC     string  `xml:"FirstC,attr"`
	FirstZ     string  `xml:"FirstZ,attr"`
	FirstT     string  `xml:"FirstT,attr"`
	PlaneCount *string `xml:"PlaneCount,attr"`
	UUID       *struct {
		FileName string `xml:"FileName,attr"`
		Value    string `xml:",chardata"`
	} `xml:"UUID"`
}

var omeTypes = map[string]DType{"uint8": Uint8, "uint16": Uint16, "int16": Int16, "uint32": Uint32,
	"float": Float32, "double": Float64}

// isOMEXML tells OME-XML from other XML some software leaves in
// ImageDescription.
func isOMEXML(desc string) bool {
	s := strings.TrimSpace(desc)
	return strings.HasPrefix(s, "<") && strings.Contains(s, "<OME")
}

// omeLayout maps the channels of the first Z and T of the first image to
// pages, checking the XML against page 0 (size, type, samples) and the
// plane count it implies.
func omeLayout(desc string, d0 *libtiff.Dir, dt DType) (tiffPageLayout, error) {
	var l tiffPageLayout
	if len(desc) > omeMaxXML {
		return l, fmt.Errorf("OME-XML of %d bytes: at most %d are read", len(desc), omeMaxXML)
	}
	var doc omeDoc
	if err := xml.Unmarshal([]byte(desc), &doc); err != nil {
		return l, fmt.Errorf("OME-XML: %w", err)
	}
	if doc.BinaryOnly != nil {
		return l, fmt.Errorf("OME-TIFF whose metadata are in a companion file (BinaryOnly): open the .companion.ome or the file holding the metadata")
	}
	if len(doc.Images) == 0 {
		return l, fmt.Errorf("OME-XML has no Image")
	}
	px := doc.Images[0].Pixels
	size := func(name, v string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 || n > 1<<31 {
			return 0, fmt.Errorf("OME-XML: %s %q is not a positive size", name, v)
		}
		return n, nil
	}
	var sx, sy, sc, sz, st int64
	for _, f := range []struct {
		name, v string
		p       *int64
	}{{"SizeX", px.SizeX, &sx}, {"SizeY", px.SizeY, &sy}, {"SizeC", px.SizeC, &sc}, {"SizeZ", px.SizeZ, &sz}, {"SizeT", px.SizeT, &st}} {
		n, err := size(f.name, f.v)
		if err != nil {
			return l, err
		}
		*f.p = n
	}
	odt, ok := omeTypes[px.Type]
	if !ok {
		return l, fmt.Errorf("OME-XML says Type %q: only uint8, uint16, int16, uint32, float and double are read", px.Type)
	}
	if odt != dt {
		return l, fmt.Errorf("OME-XML says Type %s, the pages hold %s", px.Type, dt)
	}
	if sx != int64(d0.Width) || sy != int64(d0.Height) {
		return l, fmt.Errorf("OME-XML says SizeX %d × SizeY %d, the pages are %d×%d", sx, sy, d0.Width, d0.Height)
	}
	s := int64(d0.Samples)
	if len(px.Channels) > 0 && px.Channels[0].SamplesPerPixel != "" {
		n, err := size("SamplesPerPixel", px.Channels[0].SamplesPerPixel)
		if err != nil {
			return l, err
		}
		if n != s {
			return l, fmt.Errorf("OME-XML says SamplesPerPixel %d, the pages hold %d samples", n, s)
		}
	}
	if sc%s != 0 {
		return l, fmt.Errorf("OME-XML says SizeC %d, which pages of %d samples cannot hold", sc, s)
	}
	if sc > MaxChannels {
		return l, fmt.Errorf("OME-XML says SizeC %d: at most %d channels are supported", sc, MaxChannels)
	}
	order := px.DimensionOrder
	if len(order) != 5 || order[:2] != "XY" || !strings.ContainsRune(order[2:], 'C') ||
		!strings.ContainsRune(order[2:], 'Z') || !strings.ContainsRune(order[2:], 'T') {
		return l, fmt.Errorf("OME-XML: DimensionOrder %q is not XY followed by C, Z and T", order)
	}
	cPlanes := sc / s // C planes: a page of S samples holds S channels
	planes := tiffMulCap(maxTIFFPages, cPlanes, sz, st)
	// The letter after XY varies fastest: plane = Σ index × stride.
	stride := map[byte]int64{}
	n := int64(1)
	dims := map[byte]int64{'C': cPlanes, 'Z': sz, 'T': st}
	for i := 2; i < 5; i++ {
		stride[order[i]] = n
		n = tiffMulCap(1<<62, n, dims[order[i]])
	}
	planeOf := func(c, z, t int64) int64 { return c*stride['C'] + z*stride['Z'] + t*stride['T'] }

	// TiffData: runs of planes and the page each starts at; none means
	// plane i is page i.
	type run struct{ plane, ifd, count int64 }
	var runs []run
	for _, td := range px.TiffData {
		if td.UUID != nil && strings.TrimSpace(td.UUID.Value) != "" && strings.TrimSpace(td.UUID.Value) != doc.UUID {
			// Planes of another file of a multi-file dataset: only a
			// problem if a channel read here is among them.
			continue
		}
		attr := func(name string, v string) (int64, error) {
			if strings.TrimSpace(v) == "" {
				return 0, nil
			}
			x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || x < 0 || x > 1<<31 {
				return 0, fmt.Errorf("OME-XML: TiffData %s %q", name, v)
			}
			return x, nil
		}
		var ru run
		var fc, fz, ft int64
		var err error
		if fc, err = attr("FirstC", td.FirstC); err != nil {
			return l, err
		}
		if fz, err = attr("FirstZ", td.FirstZ); err != nil {
			return l, err
		}
		if ft, err = attr("FirstT", td.FirstT); err != nil {
			return l, err
		}
		ru.plane = planeOf(fc, fz, ft)
		ru.count = 1
		if td.IFD != nil {
			if ru.ifd, err = attr("IFD", *td.IFD); err != nil {
				return l, err
			}
		} else {
			ru.count = 1 << 62 // every plane from there on
		}
		if td.PlaneCount != nil {
			if ru.count, err = attr("PlaneCount", *td.PlaneCount); err != nil {
				return l, err
			}
		}
		runs = append(runs, ru)
	}
	maxIFD := int64(-1)
	for c := range cPlanes {
		p := planeOf(c, 0, 0)
		ifd := int64(-1)
		if len(px.TiffData) == 0 {
			ifd = p
		}
		for _, ru := range runs {
			if p >= ru.plane && p-ru.plane < ru.count {
				ifd = ru.ifd + p - ru.plane
				break
			}
		}
		if ifd < 0 {
			return l, fmt.Errorf("OME-XML maps channel %d (Z 0, T 0) to no page of this file (a multi-file OME-TIFF dataset is not supported)", c*s)
		}
		if ifd >= maxTIFFPages {
			return l, fmt.Errorf("OME-XML maps channel %d to page %d: at most %d pages are read", c*s, ifd, maxTIFFPages)
		}
		maxIFD = max(maxIFD, ifd)
		l.ifds = append(l.ifds, int(ifd))
	}
	// The pages the XML accounts for: every image's planes, unless some
	// are in other files.
	total := planes
	multiFile := len(runs) < len(px.TiffData)
	for _, im := range doc.Images[1:] {
		p := im.Pixels
		var v [3]int64
		for i, f := range []string{p.SizeC, p.SizeZ, p.SizeT} {
			if v[i], _ = strconv.ParseInt(strings.TrimSpace(f), 10, 64); v[i] <= 0 {
				v[i] = 1
			}
		}
		spp := int64(1)
		if len(p.Channels) > 0 {
			if x, err := strconv.ParseInt(p.Channels[0].SamplesPerPixel, 10, 64); err == nil && x > 0 && v[0]%x == 0 {
				spp = x
			}
		}
		total = tiffMulCap(maxTIFFPages, total+tiffMulCap(maxTIFFPages, v[0]/spp, v[1], v[2]))
		for _, td := range p.TiffData {
			if td.UUID != nil && strings.TrimSpace(td.UUID.Value) != "" && strings.TrimSpace(td.UUID.Value) != doc.UUID {
				multiFile = true
			}
		}
	}
	if multiFile {
		// Pages of other files: the count cannot be checked; read what
		// is needed.
		l.walk = int(maxIFD) + 1
	} else {
		l.total = int(total)
		l.walk = int(max(min(total+1, maxTIFFPages), maxIFD+1))
		if len(doc.Images) == 1 {
			perPage := ""
			if s > 1 {
				perPage = fmt.Sprintf(" / %d samples per page", s)
			}
			l.what = fmt.Sprintf("OME-XML says SizeC %d%s × SizeZ %d × SizeT %d = %s planes", sc, perPage, sz, st, tiffCount(cPlanes, sz, st))
		} else {
			l.what = fmt.Sprintf("OME-XML says %d images of %s planes in all", len(doc.Images), tiffCount(total))
		}
	}
	if l.what == "" {
		l.what = "OME-XML"
	}
	return l, nil
}
