"""The report's CSS beyond the shared style, and its one inline script.

The script does three small things, with DOM text nodes only (never innerHTML): table filters,
paging of long tables (:data:`PAGE_ROWS` rows a page, so a host with 5,000 autostarts is not a
37,000 px page), and revealing an in-page link's target: every enclosing <details> is opened, the
table page holding the row is shown, and the row is scrolled to and highlighted. Without scripts
the page still reads: every row is there, sections open with a click.
"""

from __future__ import annotations

PAGE_ROWS = 25

REPORT_CSS = """
header.top .strip{margin-top:10px;opacity:.75}
.verdict{display:flex;gap:10px;flex-wrap:wrap;margin-top:12px;align-items:center}
#verdict .level{font-size:20px;font-weight:700;padding:6px 16px;border-radius:6px;color:#fff;display:inline-block}
#verdict ul{margin:6px 0 6px;padding-left:20px}
#verdict .row{margin:6px 0}
#verdict .label{color:var(--mute);display:inline-block;min-width:210px}
.finding{border-left:6px solid #5f6b7a;background:#fafbfc;border-radius:6px;padding:10px 14px;margin:10px 0}
.finding .head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.finding .title{font-weight:600;font-size:15px;overflow-wrap:break-word}
.finding .reason{margin:4px 0 6px;overflow-wrap:break-word}
.finding .meta{color:var(--mute);font-size:12.5px}
.finding ul{margin:4px 0 0;padding-left:18px;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
color:#2d3a4a;overflow-wrap:anywhere}
tr.flagged td{background:#fff4f4}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px}
.kv div:nth-child(odd){color:var(--mute)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
.tools{display:flex;justify-content:flex-end;margin:0 0 6px}
.filter{font-size:12.5px;padding:3px 8px;border:1px solid var(--line);border-radius:4px;width:240px}
details.sec>summary{list-style:revert}
details.sec>summary h2{margin:0}
.window{border-left:6px solid #7e57c2;padding:6px 12px;margin:12px 0;background:#faf8fd;border-radius:6px}
.window h3{margin:2px 0 6px;font-size:15px;display:inline}
.legend span.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
.yes{color:#2e7d32;font-weight:600}.no{color:#b71c1c;font-weight:600}
.scroll{max-height:680px;overflow:auto}
"""

JS = """
(function(){
  var P=__PAGE_ROWS__;
  function rows(t){return Array.prototype.slice.call(t.tBodies[0]?t.tBodies[0].rows:[]);}
  function refresh(t){
    var all=rows(t),match=all.filter(function(r){return !r.hasAttribute('data-filtered');});
    var size=t.hasAttribute('data-paged')?P:match.length||1,n=Math.max(1,Math.ceil(match.length/size));
    var pg=Math.min(parseInt(t.getAttribute('data-pg')||'0',10),n-1);t.setAttribute('data-pg',String(pg));
    all.forEach(function(r){r.style.display='none';});
    match.slice(pg*size,pg*size+size).forEach(function(r){r.style.display='';});
    var info=t.pagerInfo;if(info){info.textContent='rows '+(match.length?pg*size+1:0)+'\\u2013'+
      Math.min(match.length,pg*size+size)+' of '+match.length+' \\u00b7 page '+(pg+1)+' of '+n;}
  }
  function button(text,fn){var b=document.createElement('button');b.type='button';b.textContent=text;
    b.addEventListener('click',fn);return b;}
  document.querySelectorAll('table[data-paged]').forEach(function(t){
    var bar=document.createElement('div');bar.className='pager';
    var info=document.createElement('span');info.className='muted';t.pagerInfo=info;
    function go(d){t.setAttribute('data-pg',String(Math.max(0,parseInt(t.getAttribute('data-pg')||'0',10)+d)));refresh(t);}
    bar.appendChild(button('\\u2190 previous',function(){go(-1);}));
    bar.appendChild(button('next \\u2192',function(){go(1);}));bar.appendChild(info);
    var box=t.parentNode;box.parentNode.insertBefore(bar,box.nextSibling);refresh(t);
  });
  document.querySelectorAll('input.filter').forEach(function(inp){
    var t=document.getElementById(inp.getAttribute('data-table'));
    if(!t){return;}
    inp.addEventListener('input',function(){
      var q=inp.value.toLowerCase();
      rows(t).forEach(function(r){
        if(!q||r.textContent.toLowerCase().indexOf(q)>=0){r.removeAttribute('data-filtered');}
        else{r.setAttribute('data-filtered','1');}
      });
      t.setAttribute('data-pg','0');refresh(t);
    });
  });
  function reveal(id){
    var el=id?document.getElementById(id):null;if(!el){return;}
    for(var p=el;p;p=p.parentElement){if(p.tagName==='DETAILS'){p.open=true;}}
    if(el.tagName==='DETAILS'){el.open=true;}
    var row=el.closest?el.closest('tr'):null,t=row?row.closest('table[data-paged]'):null;
    if(t){row.removeAttribute('data-filtered');
      var match=rows(t).filter(function(r){return !r.hasAttribute('data-filtered');});
      t.setAttribute('data-pg',String(Math.floor(match.indexOf(row)/P)));refresh(t);}
    el.scrollIntoView({block:'center'});
    document.querySelectorAll('.hl').forEach(function(x){x.classList.remove('hl');});
    el.classList.add('hl');
  }
  function fromHash(){if(location.hash.length>1){reveal(decodeURIComponent(location.hash.slice(1)));}}
  document.addEventListener('click',function(ev){
    var a=ev.target.closest?ev.target.closest('a[href^="#"]'):null;
    if(a){var id=a.getAttribute('href').slice(1);setTimeout(function(){reveal(id);},0);}
  });
  window.addEventListener('hashchange',fromHash);fromHash();
  var data=document.getElementById('triage-data');
  if(data){try{window.triageSummary=JSON.parse(data.textContent);}catch(err){console.warn('data island');}}
})();
""".replace("__PAGE_ROWS__", str(PAGE_ROWS))
